using FineXtract.Extraction.Clustering;
using FineXtract.Extraction.Pipeline;
using FineXtract.Extraction.Sampling;

namespace FineXtract.Grains;

/// <summary>Turns a manifest entry plus shared parameters (files already local) into the core's extraction request.</summary>
public static class RequestBuilder
{
    public static ExtractionRequest Build(ExtractionParameters p, string basePath, string? fineTuned, string? lora, double loraScale, string? prompt,
        string? reference, string outputFolder)
    {
        var request = new ExtractionRequest
        {
            Models = new ModelSources(basePath, fineTuned, lora, loraScale, p.Tokenizer),
            Prompt = string.IsNullOrWhiteSpace(prompt) ? "auto" : prompt,
            Method = SamplingNames.Method(p.Method ?? "finextract"),
            Variant = SamplingNames.Variant(p.Variant ?? "conditional"),
            GuidanceScale = p.Guidance,
            FixTerm = p.FixTerm,
            Sampler = p.Sampler is null ? ExtractionDefaults.Sampler : SamplingNames.Sampler(p.Sampler),
            Images = p.Images ?? ExtractionDefaults.Images,
            Batch = p.Batch ?? ExtractionDefaults.Batch,
            Steps = p.Steps ?? ExtractionDefaults.Steps,
            Seed = p.Seed ?? ExtractionDefaults.Seed,
            LatentSize = p.LatentSize,
            Selection = p.Selection switch
            {
                null or "faithful" => SelectionMode.Faithful,
                "exact-n" => SelectionMode.ExactN,
                var s => throw new FineXtractException($"unknown selection '{s}' (faithful, exact-n)"),
            },
            Expected = p.Expected,
            ClusterWorkBudget = p.ClusterWorkBudget ?? CliqueClusteringOptions.DefaultWorkBudget,
            Descriptor = p.Descriptor ?? ExtractionDefaults.Descriptor,
            Preprocessing = p.Preprocess ?? "finextract",
            ReferenceFolder = reference,
            OutputFolder = outputFolder,
        };
        request.Validate();
        return request;
    }

    /// <summary>The inverse of <see cref="Build"/>: a core request as a manifest entry plus parameters (for `finextract extract`).</summary>
    public static (CheckpointEntry Entry, ExtractionParameters Parameters) Split(ExtractionRequest r, string id)
    {
        var entry = new CheckpointEntry(id, r.Models.BasePath, r.Models.FineTunedPath, r.Models.LoraPath, r.Prompt, r.ReferenceFolder, null, r.Models.LoraScale);
        var parameters = new ExtractionParameters
        {
            Images = r.Images,
            Batch = r.Batch,
            Steps = r.Steps,
            Seed = r.Seed,
            Method = SamplingNames.Of(r.Method),
            Variant = SamplingNames.Of(r.Variant),
            Guidance = r.GuidanceScale,
            FixTerm = r.FixTerm,
            Sampler = SamplingNames.Of(r.Sampler),
            Selection = r.Selection == SelectionMode.ExactN ? "exact-n" : "faithful",
            Expected = r.Expected,
            LatentSize = r.LatentSize,
            ClusterWorkBudget = r.ClusterWorkBudget,
            Descriptor = r.Descriptor,
            Preprocess = r.Preprocessing,
            Tokenizer = r.Models.TokenizerPath,
        };
        return (entry, parameters);
    }

    /// <summary>Checks the parameters without files (at submission, so a campaign with a typo fails at once).</summary>
    public static void Validate(ExtractionParameters p)
    {
        var dir = Path.GetTempPath();
        Build(p, dir, dir, null, 1, "x", null, dir);
        if (p.EarlyStopPatience is < 1) throw new FineXtractException("--early-stop-patience must be at least 1");
        if (p.SamplersPerCheckpoint is < 1 or > 64) throw new FineXtractException("--samplers-per-checkpoint must be 1..64");
    }
}
