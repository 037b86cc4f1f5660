using static TorchSharp.torch;

namespace FineXtract.Diffusion.Schedulers;

/// <summary>
/// PNDM with <c>skip_prk_steps</c> (pure PLMS, the default scheduler of SD v1.4/v1.5), as diffusers'
/// <c>PNDMScheduler.step_plms</c>.
/// <para>
/// Timesteps: the spaced timesteps t₀ &lt; t₁ &lt; … &lt; t_{S−1} (ascending), then
/// [t₀ … t_{S−2}, t_{S−2}, t_{S−1}] reversed, so the second-highest one appears twice
/// (50 steps: 981, 961, 961, 941, …, 1 — 51 entries).
/// </para>
/// <para>
/// Step k (counter): the first call takes an Euler-like step t → t − N//S with ε₀ and remembers x_t; the second
/// call (given the duplicated timestep) redoes that same step from the remembered x_t with (ε₀ + ε₁)/2 and does
/// <b>not</b> add ε₁ to the history; afterwards the history holds the last four outputs and the multistep
/// combinations (3ε₋₁ − ε₋₂)/2, (23ε₋₁ − 16ε₋₂ + 5ε₋₃)/12, (55ε₋₁ − 59ε₋₂ + 37ε₋₃ − 9ε₋₄)/24 are used. The
/// transfer is
/// <code>
/// x_prev = √(ᾱ_prev/ᾱ_t)·x − (ᾱ_prev − ᾱ_t)·ε / (ᾱ_t·√(1−ᾱ_prev) + √(ᾱ_t(1−ᾱ_t)ᾱ_prev))
/// </code>
/// with v-predictions turned into ε first (ε = √ᾱ_t·v + √(1−ᾱ_t)·x).
/// </para>
/// The history is per run: <see cref="SetTimesteps"/> clears it. Keeps copies of the model outputs and of one
/// sample between calls (released by <see cref="Dispose"/> or the next <see cref="SetTimesteps"/>).
/// </summary>
public sealed class PndmScheduler : IScheduler
{
    private long[] _timesteps = [];
    private readonly List<Tensor> _ets = [];
    private Tensor? _curSample;
    private int _counter;

    public PndmScheduler(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (!config.SkipPrkSteps)
            throw new FineXtractException(
                "PNDMScheduler with skip_prk_steps = false (Runge-Kutta warm-up steps) is not supported; set skip_prk_steps to true");
        Schedule = new NoiseSchedule(config);
    }

    public SchedulerConfig Config => Schedule.Config;
    public NoiseSchedule Schedule { get; }
    public int? NumInferenceSteps { get; private set; }
    public long[] Timesteps => (long[])_timesteps.Clone();
    public double InitNoiseSigma => 1.0;

    /// <summary>How many times <see cref="Step"/> has been called since <see cref="SetTimesteps"/>.</summary>
    public int Counter => _counter;

    public void SetTimesteps(int numInferenceSteps)
    {
        var descending = InferenceTimesteps.Descending(Config, numInferenceSteps);
        var ascending = descending.Reverse().ToArray();
        // plms = concat(t[:-1], t[-2:-1], t[-1:])[::-1]
        var plms = new List<long>(ascending.Length + 1);
        plms.AddRange(ascending[..^1]);
        if (ascending.Length >= 2) plms.Add(ascending[^2]);
        plms.Add(ascending[^1]);
        plms.Reverse();
        ResetHistory();
        _timesteps = plms.ToArray();
        NumInferenceSteps = numInferenceSteps;
    }

    public Tensor ScaleModelInput(Tensor sample, long timestep) => sample.alias();

    public SchedulerStepOutput Step(Tensor modelOutput, long timestep, Tensor sample)
    {
        ArgumentNullException.ThrowIfNull(modelOutput);
        ArgumentNullException.ThrowIfNull(sample);
        var n = NumInferenceSteps ?? throw new InvalidOperationException("SetTimesteps must be called before stepping the scheduler");
        var ratio = Config.NumTrainTimesteps / n;
        var prevTimestep = timestep - ratio;
        if (_counter == 1)
        {
            // The duplicated timestep: redo the first step, t + ratio → t.
            prevTimestep = timestep;
            timestep += ratio;
        }
        // Validate before touching the history, so a bad call leaves the state unchanged.
        var alphaProdT = Schedule.AlphaCumprod(timestep);
        var alphaProdTPrev = Schedule.AlphaCumprodPrev(prevTimestep);
        if (_counter == 1 && _curSample is null)
            throw new InvalidOperationException("PNDM step history is inconsistent (no stored sample for the second step)");

        using var scope = NewDisposeScope();
        if (_counter != 1)
        {
            while (_ets.Count > 3)
            {
                _ets[0].Dispose();
                _ets.RemoveAt(0);
            }
            _ets.Add(modelOutput.detach().clone().DetachFromDisposeScope());
        }

        Tensor eps;
        if (_ets.Count == 1 && _counter == 0)
        {
            eps = modelOutput;
            _curSample?.Dispose();
            _curSample = sample.detach().clone().DetachFromDisposeScope();
        }
        else if (_ets.Count == 1 && _counter == 1)
        {
            eps = (modelOutput + _ets[^1]) / 2;
            sample = _curSample!;
        }
        else if (_ets.Count == 2)
        {
            eps = (_ets[^1] * 3 - _ets[^2]) / 2;
        }
        else if (_ets.Count == 3)
        {
            eps = (_ets[^1] * 23 - _ets[^2] * 16 + _ets[^3] * 5) / 12;
        }
        else
        {
            eps = (_ets[^1] * 55 - _ets[^2] * 59 + _ets[^3] * 37 - _ets[^4] * 9) * (1.0 / 24);
        }

        var prevSample = PrevSample(sample, alphaProdT, alphaProdTPrev, eps);
        prevSample = prevSample.MoveToOuterDisposeScope();
        if (_counter == 1)
        {
            // diffusers sets cur_sample = None here; the tensor was used above and is released now.
            _curSample!.Dispose();
            _curSample = null;
        }
        _counter++;
        return new SchedulerStepOutput(prevSample, null);
    }

    /// <summary>The PNDM transfer from ᾱ_t to ᾱ_prev (diffusers <c>_get_prev_sample</c>), float32 coefficients.</summary>
    private Tensor PrevSample(Tensor sample, float alphaProdT, float alphaProdTPrev, Tensor modelOutput)
    {
        var betaProdT = 1f - alphaProdT;
        var betaProdTPrev = 1f - alphaProdTPrev;
        if (Config.PredictionType == PredictionType.VPrediction)
            modelOutput = modelOutput * MathF.Sqrt(alphaProdT) + sample * MathF.Sqrt(betaProdT);
        var sampleCoeff = MathF.Sqrt(alphaProdTPrev / alphaProdT);
        var denom = alphaProdT * MathF.Sqrt(betaProdTPrev) + MathF.Sqrt(alphaProdT * betaProdT * alphaProdTPrev);
        return sample * sampleCoeff - modelOutput * (alphaProdTPrev - alphaProdT) / denom;
    }

    private void ResetHistory()
    {
        foreach (var e in _ets) e.Dispose();
        _ets.Clear();
        _curSample?.Dispose();
        _curSample = null;
        _counter = 0;
    }

    public void Dispose() => ResetHistory();
}
