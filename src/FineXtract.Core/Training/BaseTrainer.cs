using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using FineXtract.Checkpoints;
using FineXtract.Diffusion.Models;
using FineXtract.Diffusion.Schedulers;
using FineXtract.Diffusion.Tokenization;
using TorchSharp;
using static TorchSharp.torch;

namespace FineXtract.Training;

/// <summary>What <c>train base</c> needs. <see cref="VaePath"/> is the trained VAE (component folder).</summary>
public sealed record BaseJob(MiniatureFamily Family, ImageCaptionDataset Data, TrainingOptions Options, string VaePath, string OutputDir,
    ClipTokenizer Tokenizer, double CaptionDropout = 0.1, bool Fp16 = false)
{
    public void Validate()
    {
        if (CaptionDropout < 0 || CaptionDropout >= 1) throw new FineXtractException($"--caption-dropout must be in [0, 1), got {CaptionDropout}");
        Family.Validate();
    }
}

/// <summary>
/// Latent means and standard deviations of every distinct image (and of its mirror image when flips are on),
/// encoded once by the frozen VAE: the base trainer draws z = mean + std·ε from them each step instead of running
/// the encoder, which halves the step time. Saved as <c>latent-cache.safetensors</c> keyed by the VAE's weights and
/// the file list, so a resumed run does not encode again.
/// </summary>
public sealed class LatentCache : IDisposable
{
    public Tensor Mean { get; }
    public Tensor Std { get; }
    /// <summary>Row of each dataset entry (flipped rows follow at +<see cref="Distinct"/>).</summary>
    public int[] RowOf { get; }
    public int Distinct { get; }
    public bool HasFlips { get; }

    private LatentCache(Tensor mean, Tensor std, int[] rowOf, int distinct, bool flips)
    {
        Mean = mean;
        Std = std;
        RowOf = rowOf;
        Distinct = distinct;
        HasFlips = flips;
    }

    public static LatentCache Build(AutoencoderKL vae, ImageCaptionDataset data, string? cachePath, Action<int, int>? progress = null)
    {
        var first = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < data.Count; i++) first.TryAdd(data.Entries[i].Path, i);
        var distinctEntries = first.Values.ToList();
        var rowOfPath = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int r = 0; r < distinctEntries.Count; r++) rowOfPath[data.Entries[distinctEntries[r]].Path] = r;
        var rowOf = data.Entries.Select(e => rowOfPath[e.Path]).ToArray();
        bool flips = data.Augmentation.Flip;
        string key = Key(vae, data, distinctEntries, flips);

        if (cachePath is not null && File.Exists(cachePath))
        {
            using var file = SafeTensorsFile.Open(cachePath);
            if (file.Metadata.TryGetValue("key", out var k) && k == key)
                return new LatentCache(file.Load("mean"), file.Load("std"), rowOf, distinctEntries.Count, flips);
        }

        var means = new List<Tensor>();
        var stds = new List<Tensor>();
        int total = distinctEntries.Count * (flips ? 2 : 1), done = 0;
        using (inference_mode())
        {
            vae.eval();
            foreach (bool flip in flips ? new[] { false, true } : [false])
            {
                foreach (var chunk in distinctEntries.Chunk(64))
                {
                    using var scope = NewDisposeScope();
                    var images = stack(chunk.Select(i => data.LoadCentred(i, flip)).ToArray());
                    var (mean, logvar) = vae.Encode(images);
                    means.Add(mean.MoveToOuterDisposeScope());
                    stds.Add((0.5 * logvar).exp().MoveToOuterDisposeScope());
                    done += chunk.Length;
                    progress?.Invoke(done, total);
                }
            }
        }
        var allMean = cat(means, 0);
        var allStd = cat(stds, 0);
        foreach (var t in means.Concat(stds)) t.Dispose();
        if (cachePath is not null)
            SafeTensorsWriter.Write(cachePath, [KeyValuePair.Create("mean", allMean), KeyValuePair.Create("std", allStd)],
                new Dictionary<string, string> { ["key"] = key, ["images"] = distinctEntries.Count.ToString() });
        return new LatentCache(allMean, allStd, rowOf, distinctEntries.Count, flips);
    }

    private static string Key(AutoencoderKL vae, ImageCaptionDataset data, List<int> entries, bool flips)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (no_grad())
            foreach (var (name, t) in vae.state_dict().OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                sha.AppendData(Encoding.UTF8.GetBytes(name));
                using var c = t.contiguous();
                sha.AppendData(c.bytes);
            }
        foreach (var i in entries) sha.AppendData(Encoding.UTF8.GetBytes(data.Entries[i].Path + "\n"));
        sha.AppendData(Encoding.UTF8.GetBytes($"res={data.Augmentation.Resolution};flip={flips}"));
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>Rows for a batch of dataset entries, each mirrored with probability ½ when flips are on.</summary>
    public long[] Rows(IReadOnlyList<int> entries, Random rng) =>
        entries.Select(e => (long)(RowOf[e] + (HasFlips && rng.Next(2) == 1 ? Distinct : 0))).ToArray();

    public void Dispose()
    {
        Mean.Dispose();
        Std.Dispose();
    }
}

/// <summary>
/// Pretrains the text encoder and UNet jointly on latents of the frozen VAE: ε-prediction, DDPM noise from the SD1
/// schedule (<see cref="NoiseSchedule.AddNoise"/>), t ~ U{0..999}, and the caption replaced by the empty prompt with
/// probability <see cref="BaseJob.CaptionDropout"/> (10%) so that classifier-free guidance works.
/// </summary>
public static class BaseTrainer
{
    /// <summary>The loss of one step (also used by tests with their own models and cache).</summary>
    public static Tensor Loss(UNet2DConditionModel unet, ClipTextModel text, NoiseSchedule schedule, LatentCache cache, double scaling,
        Tensor tokens, long[] emptyTokens, IReadOnlyList<int> entries, double captionDropout, long seed, long step)
    {
        using var scope = NewDisposeScope();
        using var generator = StepRandom.Generator(seed, step, StepRandom.Stream.Noise);
        using var rows = tensor(cache.Rows(entries, StepRandom.Random(seed, step, StepRandom.Stream.Augment)));
        var latents = DiffusionTraining.SampleLatents(cache.Mean.index_select(0, rows), cache.Std.index_select(0, rows), scaling, generator);
        var dropout = StepRandom.Random(seed, step, StepRandom.Stream.Dropout);
        var ids = tokens.index_select(0, tensor(entries.Select(e => (long)e).ToArray())).clone();
        using var empty = tensor(emptyTokens);
        for (int i = 0; i < entries.Count; i++)
            if (dropout.NextDouble() < captionDropout) ids[i].copy_(empty);
        using var encoded = text.Forward(ids);
        return DiffusionTraining.EpsilonLoss(unet, schedule, latents, encoded.LastHiddenState, generator).MoveToOuterDisposeScope();
    }

    /// <summary>Token ids [N,77] of every entry's caption, tokenised once per distinct caption.</summary>
    public static Tensor Tokenize(ClipTokenizer tokenizer, IReadOnlyList<ImageCaptionEntry> entries)
    {
        var byCaption = new Dictionary<string, long[]>(StringComparer.Ordinal);
        var flat = new long[entries.Count * tokenizer.MaxLength];
        for (int i = 0; i < entries.Count; i++)
        {
            if (!byCaption.TryGetValue(entries[i].Caption, out var ids))
                byCaption[entries[i].Caption] = ids = tokenizer.Encode(entries[i].Caption);
            ids.CopyTo(flat, i * tokenizer.MaxLength);
        }
        return tensor(flat, [entries.Count, tokenizer.MaxLength], ScalarType.Int64);
    }

    public static TrainingResult Run(BaseJob job, Action<TrainingProgress>? progress, Action<string>? log, CancellationToken cancel)
    {
        job.Validate();
        using var vae = ModelLoader.LoadVae(job.VaePath);
        if (vae.Config.LatentChannels != job.Family.Unet.InChannels)
            throw new FineXtractException($"{job.VaePath}: the VAE has {vae.Config.LatentChannels} latent channels, the UNet preset {job.Family.Unet.InChannels}");
        DiffusionTraining.Freeze(vae);
        if (job.Data.Augmentation.Resolution % vae.Config.DownFactor != 0)
            throw new FineXtractException($"--resolution {job.Data.Augmentation.Resolution} is not a multiple of the VAE's factor {vae.Config.DownFactor}");

        Directory.CreateDirectory(job.OutputDir);
        log?.Invoke($"encoding {job.Data.DistinctPaths.Count} images with the VAE (cached in latent-cache.safetensors)");
        using var cache = LatentCache.Build(vae, job.Data, Path.Combine(job.OutputDir, "latent-cache.safetensors"));
        using var tokens = Tokenize(job.Tokenizer, job.Data.Entries);
        long[] empty = job.Tokenizer.Encode(string.Empty);

        var unetConfig = job.Family.Unet with { SampleSize = job.Data.Augmentation.Resolution / vae.Config.DownFactor };
        using var unet = ModelInit.NewUnet(unetConfig, job.Options.Seed);
        using var text = ModelInit.NewTextEncoder(job.Family.Text, job.Options.Seed + 1);
        var schedule = new NoiseSchedule(MiniatureConfigs.TrainingScheduler);
        var order = new DataOrder(job.Data.Count, job.Options.Seed);
        var loop = new TrainingLoop(job.Options, "base", new Dictionary<string, nn.Module> { ["unet"] = unet, ["text_encoder"] = text });
        log?.Invoke($"UNet {string.Join("/", unetConfig.BlockOutChannels)} ({ModelInit.ParameterCount(unet) / 1e6:F2} M parameters), text encoder " +
            $"{text.Config.HiddenSize}×{text.Config.NumHiddenLayers} ({ModelInit.ParameterCount(text) / 1e6:F2} M), latents " +
            $"{vae.Config.LatentChannels}×{unetConfig.SampleSize}×{unetConfig.SampleSize}, scaling {vae.Config.ScalingFactor}, {job.Data.Count} entries");

        var result = loop.Run(step => Loss(unet, text, schedule, cache, vae.Config.ScalingFactor, tokens, empty,
            order.Batch(step, job.Options.BatchSize), job.CaptionDropout, job.Options.Seed, step), progress, cancel);
        if (result.Outcome == TrainingOutcome.Cancelled) return result;

        WritePipeline(job.OutputDir, unet, text, vae, job.VaePath, job.Fp16);
        TrainingRecord.Write(Path.Combine(job.OutputDir, "finextract_training.json"), "base", job.Options, result, new JsonObject
        {
            ["family"] = job.Family.Name,
            ["caption_dropout"] = job.CaptionDropout,
            ["flip"] = job.Data.Augmentation.Flip,
            ["entries"] = job.Data.Count,
            ["images"] = cache.Distinct,
            ["vae"] = Path.GetFullPath(job.VaePath),
        });
        return result;
    }

    /// <summary>The diffusers pipeline folder: unet/, text_encoder/, vae/ (copied unless it already is OUT/vae), tokenizer/, scheduler/, model_index.json.</summary>
    public static void WritePipeline(string dir, UNet2DConditionModel unet, ClipTextModel text, AutoencoderKL vae, string? vaePath, bool fp16)
    {
        ModelWriters.WritePipelineScaffold(dir);
        ModelWriters.WriteUnet(Path.Combine(dir, "unet"), unet, fp16);
        ModelWriters.WriteTextEncoder(Path.Combine(dir, "text_encoder"), text, fp16);
        var vaeDir = Path.Combine(dir, "vae");
        bool same = vaePath is not null && Directory.Exists(vaeDir)
            && Path.GetDirectoryName(Path.GetFullPath(ModelLoader.Resolve(ModelComponent.Vae, vaePath, null).Weights)) == Path.GetFullPath(vaeDir);
        if (!same) ModelWriters.WriteVae(vaeDir, vae, fp16);
    }
}
