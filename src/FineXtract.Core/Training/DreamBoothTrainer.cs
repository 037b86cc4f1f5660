using System.Text.Json.Nodes;
using TorchSharp;

namespace FineXtract.Training;

public enum FineTuneFormat { Diffusers, SingleFile }

/// <summary>
/// DreamBooth as FineXtract runs it (method notes §6): the whole UNet is fine-tuned on the instance images with the
/// instance prompt; VAE and text encoder frozen, no prior preservation, AdamW at lr 2e-6, 200 steps per image,
/// batch 1, RandomCrop after resize. Output: a diffusers folder with <c>unet/</c> (what FineXtract attacks as
/// <c>checkpoint-N/unet</c>) or a CompVis single file with UNet, VAE and text encoder (as civitai ships them).
/// </summary>
public static class DreamBoothTrainer
{
    public const double OfficialLearningRate = 2e-6;
    public const int OfficialStepsPerImage = 200;

    /// <summary>
    /// Trains and writes the result to <paramref name="output"/>: a folder (diffusers) or, for the single-file
    /// format, a <c>.safetensors</c> path (a folder gets <c>dreambooth.safetensors</c> inside). Checkpoints for
    /// --resume live in <see cref="TrainingOptions.CheckpointDir"/>.
    /// </summary>
    public static TrainingResult Run(FineTuneJob job, string output, FineTuneFormat format, Action<TrainingProgress>? progress,
        Action<string>? log, CancellationToken cancel)
    {
        job.Validate();
        using var models = new FineTuneModels(job.BasePath);
        CheckResolution(models, job.Data);
        var options = job.EffectiveOptions;
        var order = new DataOrder(job.Data.Count, options.Seed);
        var loop = new TrainingLoop(options, "dreambooth", new Dictionary<string, torch.nn.Module> { ["unet"] = models.Unet });
        log?.Invoke($"DreamBooth: {job.Data.DistinctPaths.Count} images × {job.StepsPerImage} steps = {options.Steps} steps, batch {options.BatchSize}, " +
            $"lr {options.LearningRate:G3}, {loop.ParameterCount / 1e6:F2} M trainable UNet parameters");
        var result = loop.Run(step => models.Loss(job.Data, order, options.BatchSize, options.Seed, step), progress, cancel);
        if (result.Outcome == TrainingOutcome.Cancelled) return result;

        var extra = Record(job, "dreambooth");
        if (format == FineTuneFormat.Diffusers)
        {
            ModelWriters.WriteUnet(Path.Combine(output, "unet"), models.Unet, job.Fp16);
            TrainingRecord.Write(Path.Combine(output, "finextract_training.json"), "dreambooth", options, result, extra);
        }
        else
        {
            string file = SingleFilePath(output);
            ModelWriters.WriteSingleFile(file, models.Unet, models.Vae, models.TextEncoder, job.Fp16);
            TrainingRecord.Write(Path.ChangeExtension(file, ".training.json"), "dreambooth", options, result, extra);
        }
        return result;
    }

    /// <summary>The single file for <paramref name="output"/>: itself when it ends in .safetensors, else OUTPUT/dreambooth.safetensors.</summary>
    public static string SingleFilePath(string output) =>
        output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) ? output : Path.Combine(output, "dreambooth.safetensors");

    internal static void CheckResolution(FineTuneModels models, ImageCaptionDataset data)
    {
        int factor = models.Vae.Config.DownFactor;
        if (data.Augmentation.Resolution % factor != 0)
            throw new FineXtractException($"--resolution {data.Augmentation.Resolution} is not a multiple of the VAE's factor {factor}");
    }

    internal static JsonObject Record(FineTuneJob job, string kind)
    {
        var prompts = job.Data.Entries.Select(e => e.Caption).Distinct(StringComparer.Ordinal).ToList();
        return new JsonObject
        {
            ["base"] = Path.GetFullPath(job.BasePath),
            ["method"] = kind,
            ["steps_per_image"] = job.StepsPerImage,
            ["resolution"] = job.Data.Augmentation.Resolution,
            ["crop_padding"] = job.Data.Augmentation.Padding,
            ["flip"] = job.Data.Augmentation.Flip,
            ["prompts"] = new JsonArray(prompts.Select(p => (JsonNode?)JsonValue.Create(p)).ToArray()),
            ["images"] = new JsonArray(job.Data.DistinctPaths.Select(p => (JsonNode?)JsonValue.Create(Path.GetFullPath(p))).ToArray()),
        };
    }
}
