using System.Globalization;
using System.Text.Json.Nodes;
using TorchSharp;

namespace FineXtract.Training;

/// <summary>LoRA shape and the free-text kohya metadata.</summary>
/// <param name="Targets">attention (to_q/k/v/out, FineXtract's script) | transformer (also feed-forward and Linear projections, kohya's default).</param>
public sealed record LoraSettings(int Rank = 64, double Alpha = 64, string? OutputName = null, string? Comment = null, bool DatasetMetadata = true,
    string Targets = "attention");

/// <summary>
/// LoRA as FineXtract trains it (method notes §6): rank 64, alpha 64 on the UNet's to_q/to_k/to_v/to_out.0, lr 1e-4,
/// 200 steps per image, everything else frozen; written as a kohya-ss <c>.safetensors</c> (the format civitai LoRAs use)
/// with kohya's <c>ss_*</c> metadata, including <c>ss_tag_frequency</c> with the "&lt;repeats&gt;_&lt;instance prompt&gt;" folder.
/// </summary>
public static class LoraTrainer
{
    public const double OfficialLearningRate = 1e-4;

    /// <summary>Where a LoRA's resumable checkpoints go: beside the output file.</summary>
    public static string CheckpointDirFor(string output) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(output))!, Path.GetFileNameWithoutExtension(output) + "-checkpoints");

    public static TrainingResult Run(FineTuneJob job, LoraSettings lora, string output, Action<TrainingProgress>? progress,
        Action<string>? log, CancellationToken cancel)
    {
        job.Validate();
        if (!output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
            throw new FineXtractException($"{output}: the LoRA output must be a .safetensors file");
        using var models = new FineTuneModels(job.BasePath);
        DreamBoothTrainer.CheckResolution(models, job.Data);
        DiffusionTraining.Freeze(models.Unet);
        var options = job.EffectiveOptions;
        using var network = new LoraNetwork(models.Unet, lora.Rank, lora.Alpha, options.Seed, LoraNetwork.TargetSet(lora.Targets));
        network.Attach();
        var order = new DataOrder(job.Data.Count, options.Seed);
        var loop = new TrainingLoop(options, "lora", new Dictionary<string, torch.nn.Module> { ["lora"] = network });
        log?.Invoke($"LoRA rank {lora.Rank} alpha {lora.Alpha:G} on {network.TargetNames.Count} projections ({loop.ParameterCount / 1e6:F2} M parameters): " +
            $"{job.Data.DistinctPaths.Count} images × {job.StepsPerImage} steps = {options.Steps} steps, batch {options.BatchSize}, lr {options.LearningRate:G3}");
        var started = DateTimeOffset.UtcNow;
        var result = loop.Run(step => models.Loss(job.Data, order, options.BatchSize, options.Seed, step), progress, cancel);
        if (result.Outcome == TrainingOutcome.Cancelled) return result;

        network.Detach();
        network.WriteKohya(output, Metadata(job, lora, options, started, DateTimeOffset.UtcNow), job.Fp16);
        TrainingRecord.Write(Path.ChangeExtension(output, ".training.json"), "lora", options, result, DreamBoothTrainer.Record(job, "lora"));
        return result;
    }

    /// <summary>kohya sd-scripts' <c>__metadata__</c> for this run (string values, Python-style literals).</summary>
    public static Dictionary<string, string> Metadata(FineTuneJob job, LoraSettings lora, TrainingOptions options, DateTimeOffset started, DateTimeOffset finished)
    {
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture) is var s && !s.Contains('.') && !s.Contains('E') ? s + ".0" : v.ToString("R", CultureInfo.InvariantCulture);
        string Unix(DateTimeOffset t) => (t.ToUnixTimeMilliseconds() / 1000.0).ToString("F3", CultureInfo.InvariantCulture);
        int images = job.Data.DistinctPaths.Count;
        int repeats = job.StepsPerImage * options.BatchSize;
        var prompts = job.Data.Entries.Select(e => e.Caption).Distinct(StringComparer.Ordinal).ToList();
        string folder = $"{repeats}_{(prompts.Count == 1 ? prompts[0] : Path.GetFileName(Path.GetDirectoryName(job.Data.Entries[0].Path)))}";

        // kohya: each caption split on ',', stripped, lower-cased; counted once per image.
        var tags = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var path in job.Data.DistinctPaths)
        {
            var caption = job.Data.Entries.First(e => e.Path == path).Caption;
            foreach (var tag in caption.Split(',').Select(t => t.Trim().ToLowerInvariant()).Where(t => t.Length > 0).Distinct())
                tags[tag] = tags.GetValueOrDefault(tag) + 1;
        }
        var tagJson = new JsonObject { [folder] = new JsonObject(tags.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)JsonValue.Create(kv.Value)))) };
        var dirsJson = new JsonObject { [folder] = new JsonObject { ["n_repeats"] = repeats, ["img_count"] = images } };
        string name = lora.OutputName ?? "lora";

        var m = new Dictionary<string, string>
        {
            ["ss_network_module"] = "networks.lora",
            ["ss_network_dim"] = lora.Rank.ToString(CultureInfo.InvariantCulture),
            ["ss_network_alpha"] = F(lora.Alpha),
            // kohya writes LoCon's conv rank and alpha as network arguments.
            ["ss_network_args"] = lora.Targets == "locon"
                ? $"{{\"conv_dim\": \"{lora.Rank}\", \"conv_alpha\": \"{F(lora.Alpha)}\"}}" : "{}",
            ["ss_network_train_unet_only"] = "True",
            ["ss_base_model_version"] = "sd_v1",
            ["ss_v2"] = "False",
            ["ss_sd_model_name"] = Path.GetFileName(Path.GetFullPath(job.BasePath).TrimEnd('/')),
            ["ss_num_train_images"] = (images * repeats).ToString(CultureInfo.InvariantCulture),
            ["ss_num_batches_per_epoch"] = options.Steps.ToString(CultureInfo.InvariantCulture),
            ["ss_num_epochs"] = "1",
            ["ss_epoch"] = "1",
            ["ss_steps"] = options.Steps.ToString(CultureInfo.InvariantCulture),
            ["ss_max_train_steps"] = options.Steps.ToString(CultureInfo.InvariantCulture),
            ["ss_batch_size_per_device"] = options.BatchSize.ToString(CultureInfo.InvariantCulture),
            ["ss_gradient_accumulation_steps"] = "1",
            ["ss_learning_rate"] = F(options.LearningRate),
            ["ss_unet_lr"] = F(options.LearningRate),
            ["ss_text_encoder_lr"] = "None",
            ["ss_lr_scheduler"] = options.WarmupSteps > 0 ? "constant_with_warmup" : "constant",
            ["ss_lr_warmup_steps"] = options.WarmupSteps.ToString(CultureInfo.InvariantCulture),
            ["ss_optimizer"] = $"torch.optim.AdamW(weight_decay={F(options.WeightDecay)},betas=({F(options.Beta1)}, {F(options.Beta2)}),eps={options.Epsilon.ToString("G", CultureInfo.InvariantCulture)})",
            ["ss_max_grad_norm"] = F(options.MaxGradNorm),
            ["ss_mixed_precision"] = "no",
            ["ss_full_fp16"] = "False",
            ["ss_save_precision"] = job.Fp16 ? "fp16" : "float",
            ["ss_seed"] = options.Seed.ToString(CultureInfo.InvariantCulture),
            ["ss_resolution"] = $"({job.Data.Augmentation.Resolution}, {job.Data.Augmentation.Resolution})",
            ["ss_enable_bucket"] = "False",
            ["ss_flip_aug"] = job.Data.Augmentation.Flip ? "True" : "False",
            ["ss_random_crop"] = "True",
            ["ss_caption_dropout_rate"] = "0.0",
            ["ss_clip_skip"] = "None",
            ["ss_noise_offset"] = "None",
            ["ss_training_started_at"] = Unix(started),
            ["ss_training_finished_at"] = Unix(finished),
            ["ss_session_id"] = (StepRandom.Mix(options.Seed, options.Steps, 7) % 2_147_483_647).ToString(CultureInfo.InvariantCulture),
        };
        if (lora.DatasetMetadata)
        {
            m["ss_tag_frequency"] = tagJson.ToJsonString();
            m["ss_dataset_dirs"] = dirsJson.ToJsonString();
            m["ss_output_name"] = name;
            if (lora.Comment is not null) m["ss_training_comment"] = lora.Comment;
        }
        return m;
    }
}
