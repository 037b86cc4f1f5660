using FineXtract.Checkpoints;
using FineXtract.Extraction.Evidence;
using FineXtract.Extraction.Imaging;
using FineXtract.Extraction.Sampling;
using static TorchSharp.torch;

namespace FineXtract.Extraction.Pipeline;

/// <summary>The outcome of regenerating one image of a recorded run.</summary>
public sealed record ReproductionResult(int Image, string WrittenTo, string? OriginalFile, bool? BitIdentical);

/// <summary>
/// Regenerates one image of a <c>results.json</c> on the CPU in float32: checks that every input file still has its
/// recorded SHA-256, rebuilds the sampling settings, and recomputes the image's original batch (same composition and
/// thread count, hence the same arithmetic) so the PNG comes out bit for bit.
/// </summary>
public static class Reproduction
{
    public static ReproductionResult Run(string resultsPath, int image, string? outputPath = null)
    {
        var r = ResultsJson.Read(resultsPath);
        var p = r.Parameters;
        if (image < 0 || image >= r.Generated.Count)
            throw new FineXtractException($"--image {image} is out of range: the run generated images 0..{r.Generated.Count - 1}");
        VerifyInputs(r);

        string Input(string role) => r.Inputs.FirstOrDefault(i => i.Role == role)?.Path
            ?? throw new FineXtractException($"{resultsPath}: no '{role}' input recorded");
        string? Optional(string role) => r.Inputs.FirstOrDefault(i => i.Role == role)?.Path;
        var sources = new ModelSources(Input("base"), Optional("finetuned"), Optional("lora"), r.FineTune.LoraScale ?? 1.0, Optional("tokenizer"));

        var method = SamplingNames.Method(p.Method);
        var variant = SamplingNames.Variant(p.Variant);
        var mode = SamplingNames.Sampler(p.Sampler);
        var settings = new SamplingSettings(r.Prompt.Text, new GuidanceSettings(method, p.GuidanceScale, p.FixTerm, variant), mode, p.Steps, p.Seed, p.LatentSize);

        int previousThreads = get_num_threads();
        set_num_threads(r.Tool.Threads);
        try
        {
            using var models = ExtractionModels.Load(sources);
            using var sampler = new SeedBatchSampler(models, settings);
            int first = image / p.Batch * p.Batch;
            var indices = Enumerable.Range(first, Math.Min(p.Batch, r.Generated.Count - first)).Select(i => (long)i).ToList();
            using var batch = sampler.Generate(indices);
            string folder = Path.GetDirectoryName(Path.GetFullPath(resultsPath))!;
            string target = outputPath ?? Path.Combine(folder, $"reproduced_{EvidenceBuilder.ImageFileName(image)}");
            using var picture = batch.Images[image - first];
            ImageIO.SavePng(picture, target);
            string original = Path.Combine(folder, r.Generated.Folder, EvidenceBuilder.ImageFileName(image));
            bool? identical = File.Exists(original) ? File.ReadAllBytes(original).AsSpan().SequenceEqual(File.ReadAllBytes(target)) : null;
            return new ReproductionResult(image, target, File.Exists(original) ? original : null, identical);
        }
        finally
        {
            set_num_threads(previousThreads);
        }
    }

    private static void VerifyInputs(ExtractionResults r)
    {
        foreach (var input in r.Inputs.Where(i => i.Role is "base" or "finetuned" or "lora" or "tokenizer"))
        {
            string root = File.Exists(input.Path) ? Path.GetDirectoryName(input.Path)! : input.Path;
            foreach (var f in input.Files)
            {
                string path = Path.Combine(root, f.Path);
                if (!File.Exists(path)) throw new FineXtractException($"{path}: recorded {input.Role} file is missing; cannot reproduce");
                string sha = CheckpointHashes.Compute(path).Sha256;
                if (sha != f.Sha256)
                    throw new FineXtractException($"{path}: SHA-256 {sha[..12]}… differs from the recorded {f.Sha256[..12]}…; these are not the audited files");
            }
        }
    }
}
