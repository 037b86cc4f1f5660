using static TorchSharp.torch;

namespace FineXtract.Diffusion.Schedulers;

/// <summary>
/// Deterministic DDIM (η = 0), as diffusers' <c>DDIMScheduler</c>: the previous timestep is
/// t − N//S, and past t = 0 it uses <see cref="NoiseSchedule.FinalAlphaCumprod"/> (ᾱ[0] for SD 1.x).
/// <code>
/// x̂₀ = (x − √(1−ᾱ_t)·ε) / √ᾱ_t                       (epsilon)
/// x̂₀ = √ᾱ_t·x − √(1−ᾱ_t)·v,  ε = √ᾱ_t·v + √(1−ᾱ_t)·x   (v_prediction)
/// x_prev = √ᾱ_prev·x̂₀ + √(1−ᾱ_prev)·ε
/// </code>
/// with x̂₀ clamped to ±clip_sample_range when clip_sample. Scalar coefficients are computed in float32 like
/// diffusers' 0-d tensors. Stateless apart from the timesteps.
/// </summary>
public sealed class DdimScheduler : IScheduler
{
    private long[] _timesteps = [];

    public DdimScheduler(SchedulerConfig config)
    {
        Schedule = new NoiseSchedule(config);
    }

    public SchedulerConfig Config => Schedule.Config;
    public NoiseSchedule Schedule { get; }
    public int? NumInferenceSteps { get; private set; }
    public long[] Timesteps => (long[])_timesteps.Clone();
    public double InitNoiseSigma => 1.0;

    public void SetTimesteps(int numInferenceSteps)
    {
        _timesteps = InferenceTimesteps.Descending(Config, numInferenceSteps);
        NumInferenceSteps = numInferenceSteps;
    }

    /// <summary>The timestep DDIM steps to from <paramref name="timestep"/>: t − N//S (may be negative).</summary>
    public long PreviousTimestep(long timestep) =>
        timestep - Config.NumTrainTimesteps / (NumInferenceSteps ?? throw NotSet());

    public Tensor ScaleModelInput(Tensor sample, long timestep) => sample.alias();

    public SchedulerStepOutput Step(Tensor modelOutput, long timestep, Tensor sample)
    {
        ArgumentNullException.ThrowIfNull(modelOutput);
        ArgumentNullException.ThrowIfNull(sample);
        var prevTimestep = PreviousTimestep(timestep);
        var alphaProdT = Schedule.AlphaCumprod(timestep);
        var alphaProdTPrev = Schedule.AlphaCumprodPrev(prevTimestep);
        var betaProdT = 1f - alphaProdT;
        var sqrtAlphaT = MathF.Sqrt(alphaProdT);
        var sqrtBetaT = MathF.Sqrt(betaProdT);

        using var scope = NewDisposeScope();
        Tensor predOriginal, predEpsilon;
        switch (Config.PredictionType)
        {
            case PredictionType.Epsilon:
                predOriginal = (sample - modelOutput * sqrtBetaT) / sqrtAlphaT;
                predEpsilon = modelOutput;
                break;
            case PredictionType.VPrediction:
                predOriginal = sample * sqrtAlphaT - modelOutput * sqrtBetaT;
                predEpsilon = modelOutput * sqrtAlphaT + sample * sqrtBetaT;
                break;
            default:
                throw new InvalidOperationException($"prediction type {Config.PredictionType}");
        }
        if (Config.ClipSample)
            predOriginal = predOriginal.clamp(-Config.ClipSampleRange, Config.ClipSampleRange);

        // η = 0: σ_t = 0, so the direction term is √(1 − ᾱ_prev)·ε.
        var direction = predEpsilon * MathF.Sqrt(1f - alphaProdTPrev);
        var prevSample = predOriginal * MathF.Sqrt(alphaProdTPrev) + direction;
        return new SchedulerStepOutput(prevSample.MoveToOuterDisposeScope(), predOriginal.MoveToOuterDisposeScope());
    }

    public void Dispose() { }

    private static InvalidOperationException NotSet() =>
        new("SetTimesteps must be called before stepping the scheduler");
}
