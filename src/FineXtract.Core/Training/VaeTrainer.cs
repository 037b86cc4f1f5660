using System.Text.Json.Nodes;
using FineXtract.Diffusion.Models;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FineXtract.Training;

/// <summary>
/// VAE loss settings. The loss is mean |x − x̂| + l2·mean (x − x̂)² + kl·KL/(3·H·W), where KL is summed over
/// latent elements per image: with kl = 1e-6 that is the balance of LDM's KL-f8 autoencoder (its reconstruction
/// sum over pixels, KL sum ×1e-6), without its perceptual and adversarial terms.
/// </summary>
public sealed record VaeLossSettings(double KlWeight = 1e-6, double L2Weight = 0.0, int Crop = 0)
{
    public void Validate(int resolution, int downFactor)
    {
        if (KlWeight < 0 || L2Weight < 0) throw new FineXtractException("--kl-weight and --l2-weight must be ≥ 0");
        if (Crop != 0 && (Crop > resolution || Crop % downFactor != 0 || Crop < 2 * downFactor))
            throw new FineXtractException($"--crop must be 0 (whole image) or a multiple of {downFactor} in [{2 * downFactor}, {resolution}], got {Crop}");
    }
}

/// <summary>What <c>train vae</c> needs.</summary>
public sealed record VaeJob(MiniatureFamily Family, ImageCaptionDataset Data, TrainingOptions Options, VaeLossSettings Loss, string OutputDir,
    bool Fp16 = false, int ScaleSamples = 1024);

/// <summary>Trains the AutoencoderKL on images (random crops optional), measures the scaling factor, writes <c>vae/</c>.</summary>
public static class VaeTrainer
{
    public static Tensor Loss(AutoencoderKL vae, Tensor images, VaeLossSettings settings, Generator generator)
    {
        using var scope = NewDisposeScope();
        var (mean, logvar) = vae.Encode(images);
        var z = mean + (0.5 * logvar).exp() * randn(mean.shape, generator: generator);
        var rec = vae.Decode(z);
        var diff = rec - images;
        var loss = diff.abs().mean();
        if (settings.L2Weight > 0) loss = loss + settings.L2Weight * diff.square().mean();
        if (settings.KlWeight > 0)
        {
            var kl = 0.5 * (mean.square() + logvar.exp() - 1 - logvar).sum([1, 2, 3]).mean();
            loss = loss + settings.KlWeight * kl / (images.shape[1] * images.shape[2] * images.shape[3]);
        }
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>Random crops of a batch (one offset per image, from <paramref name="rng"/>), or the batch itself.</summary>
    public static Tensor Crop(Tensor images, int crop, Random rng)
    {
        long size = images.shape[^1];
        if (crop == 0 || crop == size) return images.alias();
        using var scope = NewDisposeScope();
        var parts = Enumerable.Range(0, (int)images.shape[0]).Select(i =>
        {
            int top = rng.Next((int)(images.shape[2] - crop) + 1), left = rng.Next((int)(size - crop) + 1);
            return images[i, .., top..(top + crop), left..(left + crop)];
        }).ToArray();
        return stack(parts).MoveToOuterDisposeScope();
    }

    public static TrainingResult Train(AutoencoderKL vae, VaeJob job, Action<TrainingProgress>? progress, CancellationToken cancel)
    {
        job.Loss.Validate(job.Data.Augmentation.Resolution, vae.Config.DownFactor);
        var order = new DataOrder(job.Data.Count, job.Options.Seed);
        var loop = new TrainingLoop(job.Options, "vae", new Dictionary<string, nn.Module> { ["vae"] = vae });
        return loop.Run(step =>
        {
            var images = job.Data.Batch(order.Batch(step, job.Options.BatchSize), job.Options.Seed, step);
            var cropped = Crop(images, job.Loss.Crop, StepRandom.Random(job.Options.Seed, step, StepRandom.Stream.Augment, -1));
            using var generator = StepRandom.Generator(job.Options.Seed, step, StepRandom.Stream.Noise);
            return Loss(vae, cropped, job.Loss, generator);
        }, progress, cancel);
    }

    /// <summary>
    /// SD's scaling factor measured on data: 1 / std of latent samples (mean + std·ε) of up to <paramref name="samples"/>
    /// centre views, so that the diffusion model sees unit-variance latents (SD1's 0.18215 was found the same way).
    /// Also returns the mean absolute reconstruction error of those images (from the latent means), in [0,1] units.
    /// </summary>
    public static (double ScalingFactor, double ReconstructionL1) Measure(AutoencoderKL vae, ImageCaptionDataset data, int samples, long seed)
    {
        using var _ = inference_mode();
        vae.eval();
        var first = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < data.Count; i++) first.TryAdd(data.Entries[i].Path, i);
        var indices = first.Values.ToList();
        var rng = new Random((int)(StepRandom.Mix(seed, 0, (long)StepRandom.Stream.Init) & 0x7FFFFFFF));
        rng.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(indices));
        indices = indices.Take(Math.Max(1, samples)).ToList();
        double sum = 0, sumSq = 0, l1 = 0;
        long count = 0, pixels = 0;
        using var generator = StepRandom.Generator(seed, -1, StepRandom.Stream.Noise);
        foreach (var chunk in indices.Chunk(32))
        {
            using var scope = NewDisposeScope();
            var images = stack(chunk.Select(i => data.LoadCentred(i)).ToArray());
            var (mean, logvar) = vae.Encode(images);
            var z = mean + (0.5 * logvar).exp() * randn(mean.shape, generator: generator);
            var zd = z.to_type(ScalarType.Float64);
            sum += zd.sum().item<double>();
            sumSq += zd.square().sum().item<double>();
            count += z.numel();
            l1 += ((vae.Decode(mean).clamp(-1, 1) - images).abs().sum().item<float>()) / 2;
            pixels += images.numel();
        }
        double m = sum / count, std = Math.Sqrt(Math.Max(sumSq / count - m * m, 1e-12));
        return (1.0 / std, l1 / pixels);
    }

    /// <summary>Trains (or resumes), measures the scaling factor and writes <c>OUT/vae/</c> plus a training record.</summary>
    public static TrainingResult Run(VaeJob job, Action<TrainingProgress>? progress, Action<string>? log, CancellationToken cancel)
    {
        job.Family.Validate();
        job.Loss.Validate(job.Data.Augmentation.Resolution, job.Family.Vae.DownFactor);
        using var vae = ModelInit.NewVae(job.Family.Vae, job.Options.Seed);
        log?.Invoke($"VAE {string.Join("/", vae.Config.BlockOutChannels)}: {ModelInit.ParameterCount(vae) / 1e6:F2} M parameters, " +
            $"{job.Data.Count} images, batch {job.Options.BatchSize}, crop {(job.Loss.Crop == 0 ? job.Data.Augmentation.Resolution : job.Loss.Crop)}");
        var result = Train(vae, job, progress, cancel);
        if (result.Outcome == TrainingOutcome.Cancelled) return result;

        var (scaling, rec) = Measure(vae, job.Data, job.ScaleSamples, job.Options.Seed);
        log?.Invoke($"latent scaling factor {scaling:F5} (1/std over {Math.Min(job.ScaleSamples, job.Data.DistinctPaths.Count)} images); reconstruction L1 {rec:F4}");
        double rounded = Math.Round(scaling, 5);
        var dir = Path.Combine(job.OutputDir, "vae");
        ModelWriters.WriteComponent(dir, vae, MiniatureConfigs.VaeJson(vae.Config with { ScalingFactor = rounded }), ModelWriters.VaeWeights, job.Fp16);
        TrainingRecord.Write(Path.Combine(dir, "finextract_training.json"), "vae", job.Options, result, new JsonObject
        {
            ["scaling_factor"] = rounded,
            ["reconstruction_l1"] = rec,
            ["crop"] = job.Loss.Crop,
            ["kl_weight"] = job.Loss.KlWeight,
            ["l2_weight"] = job.Loss.L2Weight,
            ["images"] = job.Data.DistinctPaths.Count,
        });
        return result;
    }
}

/// <summary>A small JSON record of how a model was trained, written beside it.</summary>
public static class TrainingRecord
{
    public static void Write(string path, string kind, TrainingOptions options, TrainingResult result, JsonObject extra)
    {
        var losses = result.Losses;
        double Mean(IEnumerable<double> xs) => xs.DefaultIfEmpty(double.NaN).Average();
        int tail = Math.Max(1, Math.Min(100, losses.Count / 10));
        var record = new JsonObject
        {
            ["kind"] = kind,
            ["steps"] = result.Step,
            ["batch_size"] = options.BatchSize,
            ["learning_rate"] = options.LearningRate,
            ["warmup_steps"] = options.WarmupSteps,
            ["seed"] = options.Seed,
            ["max_grad_norm"] = options.MaxGradNorm,
            ["weight_decay"] = options.WeightDecay,
            ["resumed_from_step"] = result.StartStep,
            ["loss_first"] = losses.Count > 0 ? Mean(losses.Take(tail)) : null,
            ["loss_last"] = losses.Count > 0 ? Mean(losses.Skip(losses.Count - tail)) : null,
            ["written_at"] = DateTimeOffset.UtcNow.ToString("O"),
        };
        foreach (var (k, v) in extra) record[k] = v?.DeepClone();
        ModelWriters.WriteJson(path, record);
    }
}
