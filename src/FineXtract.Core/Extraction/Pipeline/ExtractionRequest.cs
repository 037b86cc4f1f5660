using FineXtract.Extraction.Clustering;
using FineXtract.Extraction.Sampling;

namespace FineXtract.Extraction.Pipeline;

/// <summary>
/// The extraction defaults, in one place (the official FineXtract settings: 500 images of 50 steps, batches of 10,
/// code-faithful sampling and selection; guidance defaults in <see cref="GuidanceSettings"/>).
/// </summary>
public static class ExtractionDefaults
{
    public const int Images = 500;
    public const int Batch = 10;
    public const int Steps = 50;
    public const long Seed = 0;
    public const SamplerMode Sampler = SamplerMode.Faithful;
    public const SelectionMode Selection = SelectionMode.Faithful;
    /// <summary>N when neither --expect, kohya's dataset metadata (img_count) nor a reference folder says how many images were trained on.</summary>
    public const int Expected = 10;
    public const string Descriptor = "builtin";
}

/// <summary>One extraction: which models, which prompt, how to sample, cluster and evaluate, where to write.</summary>
public sealed record ExtractionRequest
{
    public required ModelSources Models { get; init; }
    /// <summary>The caption, or "auto" to recover it blindly.</summary>
    public required string Prompt { get; init; }
    public ExtractionMethod Method { get; init; } = ExtractionMethod.FineXtract;
    public GuidanceVariant Variant { get; init; } = GuidanceVariant.Conditional;
    /// <summary>w; null → the method's default for this kind of fine-tune.</summary>
    public double? GuidanceScale { get; init; }
    /// <summary>k; null → the method's default for this kind of fine-tune.</summary>
    public double? FixTerm { get; init; }
    public SamplerMode Sampler { get; init; } = ExtractionDefaults.Sampler;
    public int Images { get; init; } = ExtractionDefaults.Images;
    public int Batch { get; init; } = ExtractionDefaults.Batch;
    public int Steps { get; init; } = ExtractionDefaults.Steps;
    public long Seed { get; init; } = ExtractionDefaults.Seed;
    /// <summary>Latent side; null → the UNet config's sample_size.</summary>
    public int? LatentSize { get; init; }
    public SelectionMode Selection { get; init; } = ExtractionDefaults.Selection;
    /// <summary>N; null → kohya metadata, else the reference folder's size, else <see cref="ExtractionDefaults.Expected"/>.</summary>
    public int? Expected { get; init; }
    /// <summary>Per-round clustering budget in Bron–Kerbosch calls (the default maximal-clique-enumeration model).</summary>
    public long ClusterWorkBudget { get; init; } = CliqueClusteringOptions.DefaultWorkBudget;
    public string Descriptor { get; init; } = ExtractionDefaults.Descriptor;
    public string Preprocessing { get; init; } = "finextract";
    public string? ReferenceFolder { get; init; }
    public required string OutputFolder { get; init; }

    public GuidanceSettings Guidance()
    {
        var defaults = GuidanceSettings.Default(Method, Models.Kind == FineTuneKind.Lora);
        return defaults with
        {
            Scale = GuidanceScale ?? defaults.Scale,
            FixTerm = Method == ExtractionMethod.FineXtract ? FixTerm ?? defaults.FixTerm : 0,
            Variant = Variant,
        };
    }

    public void Validate()
    {
        Models.Validate();
        if (string.IsNullOrWhiteSpace(Prompt) && Variant != GuidanceVariant.CaptionFree)
            throw new FineXtractException("--prompt is empty: give the caption, or 'auto'");
        if (Images < 1) throw new FineXtractException($"--images must be at least 1, got {Images}");
        if (Batch < 1) throw new FineXtractException($"--batch must be at least 1, got {Batch}");
        if (Steps < 1 || Steps > 1000) throw new FineXtractException($"--steps must be 1..1000, got {Steps}");
        if (Expected is < 1) throw new FineXtractException($"--expect must be at least 1, got {Expected}");
        if (GuidanceScale is { } w && !double.IsFinite(w)) throw new FineXtractException("--guidance must be a finite number");
        if (ReferenceFolder is not null && !Directory.Exists(ReferenceFolder))
            throw new FineXtractException($"{ReferenceFolder}: reference folder not found");
    }
}
