using FineXtract.Diffusion.Schedulers;
using static TorchSharp.torch;

namespace FineXtract.Extraction.Sampling;

/// <summary>
/// The denoising loop, visible in one place: start latents → final latents under a <see cref="ModelGuidance"/>.
/// </summary>
public static class DenoisingLoop
{
    /// <summary>
    /// Runs <paramref name="steps"/> steps. <paramref name="pipelineScheduler"/> is the base pipeline's scheduler
    /// config (SD v1.4: PNDM); it supplies ᾱ and, in faithful mode, the timestep list and baseline step rule.
    /// </summary>
    public static Tensor Run(ModelGuidance guidance, Tensor startLatents, PromptEmbeddings prompts, SchedulerConfig pipelineScheduler,
        SamplerMode mode, int steps, Action<int>? onStep = null, CancellationToken cancel = default)
    {
        if (steps < 1 || steps > pipelineScheduler.NumTrainTimesteps)
            throw new FineXtractException($"steps must be between 1 and {pipelineScheduler.NumTrainTimesteps}, got {steps}");
        using var _ = inference_mode();
        return mode == SamplerMode.Faithful && guidance.Settings.Method == ExtractionMethod.FineXtract
            ? RunOfficialDdim(guidance, startLatents, prompts, pipelineScheduler, steps, onStep, cancel)
            : RunScheduler(guidance, startLatents, prompts,
                mode == SamplerMode.Ddim ? pipelineScheduler with { ClassName = "DDIMScheduler" } : pipelineScheduler,
                steps, onStep, cancel);
    }

    /// <summary>
    /// FineXtract's hand-written DDIM (contrasted_sample.py): timesteps = scheduler.timesteps[:steps],
    /// prev_t = max(1, t − N/steps), ᾱ of the pretrained scheduler; the last step ends at t = 1.
    /// </summary>
    private static Tensor RunOfficialDdim(ModelGuidance guidance, Tensor startLatents, PromptEmbeddings prompts,
        SchedulerConfig config, int steps, Action<int>? onStep, CancellationToken cancel)
    {
        using var scheduler = SchedulerFactory.FromConfig(config);
        scheduler.SetTimesteps(steps);
        var timesteps = scheduler.Timesteps.Take(steps).ToArray();
        var schedule = scheduler.Schedule;
        long stride = config.NumTrainTimesteps / steps;
        var latents = startLatents.clone();
        for (int i = 0; i < timesteps.Length; i++)
        {
            cancel.ThrowIfCancellationRequested();
            long t = timesteps[i], prev = Math.Max(1, t - stride);
            using (var scope = NewDisposeScope())
            {
                var eps = guidance.Predict(latents, t, prompts);
                float at = schedule.AlphaCumprod(t), ap = schedule.AlphaCumprod(prev);
                var x0 = (latents - MathF.Sqrt(1 - at) * eps) / MathF.Sqrt(at);
                var next = MathF.Sqrt(ap) * x0 + MathF.Sqrt(1 - ap) * eps;
                latents.Dispose();
                latents = next.MoveToOuterDisposeScope();
            }
            onStep?.Invoke(i + 1);
        }
        return latents;
    }

    /// <summary>The pipeline way: the scheduler's own timesteps and step rule (diffusers' StableDiffusionPipeline loop).</summary>
    private static Tensor RunScheduler(ModelGuidance guidance, Tensor startLatents, PromptEmbeddings prompts,
        SchedulerConfig config, int steps, Action<int>? onStep, CancellationToken cancel)
    {
        using var scheduler = SchedulerFactory.FromConfig(config);
        scheduler.SetTimesteps(steps);
        var latents = (startLatents * scheduler.InitNoiseSigma).contiguous();
        var timesteps = scheduler.Timesteps;
        for (int i = 0; i < timesteps.Length; i++)
        {
            cancel.ThrowIfCancellationRequested();
            using (var scope = NewDisposeScope())
            {
                var input = scheduler.ScaleModelInput(latents, timesteps[i]);
                var eps = guidance.Predict(input, timesteps[i], prompts);
                var next = scheduler.Step(eps, timesteps[i], latents).PrevSample;
                latents.Dispose();
                latents = next.MoveToOuterDisposeScope();
            }
            onStep?.Invoke(i + 1);
        }
        return latents;
    }
}
