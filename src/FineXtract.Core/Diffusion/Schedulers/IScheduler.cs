using static TorchSharp.torch;

namespace FineXtract.Diffusion.Schedulers;

/// <summary>
/// A sampling scheduler shaped like diffusers' <c>SchedulerMixin</c>: <see cref="SetTimesteps"/>, then for each
/// t in <see cref="Timesteps"/> run the model on <see cref="ScaleModelInput"/>(x, t) and call <see cref="Step"/>.
/// Initial latents are standard normal noise times <see cref="InitNoiseSigma"/>.
/// Stateful schedulers (PNDM) keep tensors between steps; dispose the scheduler to release them.
/// </summary>
public interface IScheduler : IDisposable
{
    SchedulerConfig Config { get; }

    /// <summary>β, ᾱ and the training-side noising operations of this scheduler's config.</summary>
    NoiseSchedule Schedule { get; }

    /// <summary>The step count of the last <see cref="SetTimesteps"/>; null before it.</summary>
    int? NumInferenceSteps { get; }

    /// <summary>The timesteps to visit, in order (a copy); empty before <see cref="SetTimesteps"/>.</summary>
    long[] Timesteps { get; }

    /// <summary>The standard deviation of the initial noise (1 for DDIM and PNDM).</summary>
    double InitNoiseSigma { get; }

    /// <summary>Chooses the timesteps for <paramref name="numInferenceSteps"/> steps and resets any step history.</summary>
    void SetTimesteps(int numInferenceSteps);

    /// <summary>The model input for <paramref name="sample"/> at <paramref name="timestep"/>; a new handle the caller owns.</summary>
    Tensor ScaleModelInput(Tensor sample, long timestep);

    /// <summary>
    /// One reverse-diffusion step from <paramref name="sample"/> at <paramref name="timestep"/> given the model's
    /// output. The inputs are not modified or kept; the returned tensors belong to the caller (and to the
    /// caller's dispose scope, if one is open).
    /// </summary>
    SchedulerStepOutput Step(Tensor modelOutput, long timestep, Tensor sample);
}

/// <summary>The result of <see cref="IScheduler.Step"/>: x_{t−1}, and the predicted x₀ where the scheduler has one.</summary>
public sealed class SchedulerStepOutput(Tensor prevSample, Tensor? predOriginalSample) : IDisposable
{
    public Tensor PrevSample { get; } = prevSample;

    /// <summary>The x₀ estimate (DDIM); null for schedulers that do not produce one (PNDM).</summary>
    public Tensor? PredOriginalSample { get; } = predOriginalSample;

    public void Dispose()
    {
        PrevSample.Dispose();
        PredOriginalSample?.Dispose();
    }
}
