using FineXtract.Checkpoints;
using FineXtract.Diffusion.Models;
using FineXtract.Diffusion.Schedulers;
using FineXtract.Diffusion.Tokenization;
using FineXtract.Extraction.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace FineXtract.Training;

/// <summary>
/// What a DreamBooth or LoRA fine-tune needs: the base pipeline folder, the images (with the instance prompt or
/// captions), steps = <see cref="StepsPerImage"/> × images (FineXtract: 200), and the optimiser options (whose
/// <see cref="TrainingOptions.Steps"/> is replaced by that product).
/// </summary>
public sealed record FineTuneJob(string BasePath, ImageCaptionDataset Data, int StepsPerImage, TrainingOptions Options, bool Fp16 = false)
{
    public int Steps => StepsPerImage * Data.DistinctPaths.Count;

    public TrainingOptions EffectiveOptions => Options with { Steps = Steps };

    public void Validate()
    {
        if (StepsPerImage < 1) throw new FineXtractException($"--steps-per-image must be at least 1, got {StepsPerImage}");
    }
}

/// <summary>
/// The base models of a fine-tune, loaded once: UNet (trained or adapted), frozen VAE and text encoder, the
/// tokenizer, the noise schedule, and the text states of every distinct caption (the text encoder is frozen, as in
/// FineXtract's DreamBooth and LoRA scripts, so they are computed once).
/// </summary>
public sealed class FineTuneModels : IDisposable
{
    private readonly Dictionary<string, Tensor> _contexts = new(StringComparer.Ordinal);

    public UNet2DConditionModel Unet { get; }
    public AutoencoderKL Vae { get; }
    public ClipTextModel TextEncoder { get; }
    public ClipTokenizer Tokenizer { get; }
    public NoiseSchedule Schedule { get; }

    public FineTuneModels(string basePath)
    {
        Unet = ModelLoader.LoadUnet(basePath);
        try
        {
            Vae = ModelLoader.LoadVae(basePath);
            TextEncoder = ModelLoader.LoadTextEncoder(basePath);
        }
        catch
        {
            Unet.Dispose();
            Vae?.Dispose();
            throw;
        }
        DiffusionTraining.Freeze(Vae);
        DiffusionTraining.Freeze(TextEncoder);
        var tokenizerDir = Path.Combine(basePath, "tokenizer");
        Tokenizer = ClipTokenizer.FromDirectory(Directory.Exists(tokenizerDir) ? tokenizerDir : ExtractionModels.BundledTokenizerPath);
        var schedulerPath = Path.Combine(basePath, "scheduler", "scheduler_config.json");
        Schedule = new NoiseSchedule(File.Exists(schedulerPath) ? SchedulerConfig.Load(schedulerPath) : MiniatureConfigs.TrainingScheduler);
        if (Schedule.Config.PredictionType != PredictionType.Epsilon)
            throw new FineXtractException($"{basePath}: v-prediction bases are not supported by the trainers (ε-prediction only)");
    }

    /// <summary>Pixel resolution the UNet was built for (sample_size × VAE factor).</summary>
    public int Resolution => Unet.Config.SampleSize * Vae.Config.DownFactor;

    /// <summary>The same, read from a pipeline folder's configs without loading any weights.</summary>
    public static int ResolutionOf(string basePath)
    {
        var unet = UNet2DConditionConfig.FromJson(ConfigJson.Load(Path.Combine(basePath, "unet", "config.json")));
        var vae = AutoencoderKLConfig.FromJson(ConfigJson.Load(Path.Combine(basePath, "vae", "config.json")));
        return unet.SampleSize * vae.DownFactor;
    }

    /// <summary>Text states [77,D] of a caption (computed once, no graph).</summary>
    public Tensor Context(string caption)
    {
        if (!_contexts.TryGetValue(caption, out var ctx))
        {
            using var _ = inference_mode();
            using var ids = tensor(Tokenizer.Encode(caption)).unsqueeze(0);
            using var o = TextEncoder.Forward(ids);
            ctx = o.LastHiddenState[0].clone().DetachFromDisposeScope();
            _contexts[caption] = ctx;
        }
        return ctx;
    }

    /// <summary>The diffusion loss of one step of a fine-tune on <paramref name="data"/>.</summary>
    public Tensor Loss(ImageCaptionDataset data, DataOrder order, int batchSize, long seed, long step)
    {
        using var scope = NewDisposeScope();
        var entries = order.Batch(step, batchSize);
        var images = data.Batch(entries, seed, step);
        using var generator = StepRandom.Generator(seed, step, StepRandom.Stream.Noise);
        var latents = DiffusionTraining.EncodeLatents(Vae, images, generator);
        var context = stack(entries.Select(e => Context(data.Entries[e].Caption)).ToArray());
        return DiffusionTraining.EpsilonLoss(Unet, Schedule, latents, context, generator).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        foreach (var t in _contexts.Values) t.Dispose();
        _contexts.Clear();
        Unet.Dispose();
        Vae.Dispose();
        TextEncoder.Dispose();
    }
}
