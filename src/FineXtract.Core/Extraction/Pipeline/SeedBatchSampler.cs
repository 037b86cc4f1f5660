using FineXtract.Extraction.Sampling;
using static TorchSharp.torch;

namespace FineXtract.Extraction.Pipeline;

/// <summary>Everything that determines the images of a run besides the models.</summary>
public sealed record SamplingSettings(string Prompt, GuidanceSettings Guidance, SamplerMode Mode, int Steps, long Seed, int LatentSize)
{
    public void Validate()
    {
        if (Steps < 1 || Steps > 1000) throw new FineXtractException($"--steps must be 1..1000, got {Steps}");
        if (LatentSize < 1 || LatentSize > 512) throw new FineXtractException($"latent size must be 1..512, got {LatentSize}");
    }
}

/// <summary>Decoded images [B,3,H,W] in [0,1] (CPU, float32) for the image indices of one batch.</summary>
public sealed class GeneratedBatch(long[] indices, Tensor images) : IDisposable
{
    public long[] Indices { get; } = indices;
    public Tensor Images { get; } = images;
    public void Dispose() => Images.Dispose();
}

/// <summary>
/// Generates seed batches: start latents from (seed, index), the denoising loop under the chosen guidance, VAE
/// decoding. The unit of work a sampler (CLI or sampler grain) runs; prompt embeddings are encoded once.
/// </summary>
public sealed class SeedBatchSampler(ExtractionModels models, SamplingSettings settings) : IDisposable
{
    private readonly Dictionary<int, PromptEmbeddings> _prompts = [];
    private readonly ModelGuidance _guidance = new(models.PretrainedUnet, models.FineTunedUnet, settings.Guidance);

    public SamplingSettings Settings { get; } = settings;

    /// <summary>UNet evaluations one image costs.</summary>
    public int UNetEvaluationsPerImage => Settings.Guidance.UNetEvaluationsPerStep * StepsVisited;

    /// <summary>Denoising steps actually taken (PNDM's list visits one timestep twice in the pipeline loop).</summary>
    public int StepsVisited =>
        Settings.Mode == SamplerMode.Faithful && Settings.Guidance.Method != ExtractionMethod.FineXtract
        && models.Scheduler.ClassName == "PNDMScheduler" ? Settings.Steps + 1 : Settings.Steps;

    public GeneratedBatch Generate(IReadOnlyList<long> indices, Action<int>? onStep = null, CancellationToken cancel = default)
    {
        using var scope = NewDisposeScope();
        using var _ = inference_mode();
        var latents = SeedLatents.ForImages(Settings.Seed, indices, models.PretrainedUnet.Config.InChannels, Settings.LatentSize, Settings.LatentSize);
        var final = DenoisingLoop.Run(_guidance, latents, Prompts(indices.Count), models.Scheduler, Settings.Mode, Settings.Steps, onStep, cancel);
        var decoded = models.Vae.Decode(final / models.Vae.Config.ScalingFactor);
        var images = (decoded / 2 + 0.5).clamp(0, 1).contiguous();
        return new GeneratedBatch(indices.ToArray(), images.MoveToOuterDisposeScope());
    }

    private PromptEmbeddings Prompts(int batch)
    {
        if (!_prompts.TryGetValue(batch, out var p))
        {
            p = models.EncodePrompts(Settings.Prompt, batch);
            _prompts[batch] = p;
        }
        return p;
    }

    public void Dispose()
    {
        foreach (var p in _prompts.Values)
            foreach (var t in new[] { p.PretrainedEmpty, p.PretrainedCaption, p.FineTunedEmpty, p.FineTunedCaption }.Distinct())
                t.Dispose();
        _prompts.Clear();
    }
}
