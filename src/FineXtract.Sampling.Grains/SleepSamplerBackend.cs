using FineXtract.Extraction.Evidence;
using FineXtract.Extraction.Pipeline;

namespace FineXtract.Sampling;

/// <summary>
/// A stand-in sampler for orchestration benchmarks (`finextract bench campaign`): loads nothing, sleeps for each
/// batch, writes a 1×1 PNG per image and returns deterministic pseudo-random embeddings. Never used for evidence.
/// </summary>
public sealed class SleepSamplerBackend(TimeSpan perBatch, int dimension = 8) : ISamplerBackend
{
    private static readonly byte[] Png = Convert.FromBase64String(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==");

    public ISamplerSession Open(ExtractionRequest request)
    {
        request.Validate();
        var parameters = new ParametersRecord("finextract", "conditional", 0, 0, "sleep", "none", request.Steps, request.Images, request.Batch,
            request.Seed, 1, 1, "faithful", Math.Min(request.Expected ?? ExtractionDefaults.Expected, request.Images), request.ClusterWorkBudget,
            new DescriptorRecord("sleep-stand-in", false, dimension, "none", "benchmark stand-in: no model was run"), "stand-in");
        var inputs = new List<InputRecord> { new("base", request.Models.BasePath, []) };
        if (request.Models.FineTunedPath is { } ft) inputs.Add(new("finetuned", ft, []));
        if (request.Models.LoraPath is { } lora) inputs.Add(new("lora", lora, []));
        var context = new ExtractionContext(request, inputs, "sd1", new FineTuneRecord(request.Models.Kind == FineTuneKind.Lora ? "lora" : "full", null, null, 0, false),
            new PromptRecord(request.Prompt, "given", null, null), parameters, request.Steps * 2, 0, 0);
        return new Session(context, perBatch, dimension);
    }

    private sealed class Session(ExtractionContext context, TimeSpan perBatch, int dimension) : ISamplerSession
    {
        public ExtractionContext Context => context;

        public async Task<GeneratedImages> GenerateAsync(IReadOnlyList<long> indices, string runFolder, CancellationToken cancel)
        {
            await Task.Delay(perBatch, cancel);
            Directory.CreateDirectory(Path.Combine(runFolder, EvidenceBuilder.ImagesFolder));
            var files = new List<string>();
            foreach (var i in indices)
            {
                string file = EvidenceBuilder.ImageFile(i);
                await File.WriteAllBytesAsync(Path.Combine(runFolder, file), Png, cancel);
                files.Add(file);
            }
            // Different per checkpoint (its output folder), deterministic per image: no two checkpoints share an image.
            long job = Fnv1a(context.Request.OutputFolder);
            var embeddings = indices.Select(i => Vector(context.Request.Seed ^ (job << 20), i)).ToList();
            return new GeneratedImages(indices.ToArray(), files, embeddings, indices.Count * (long)context.UNetEvaluationsPerImage, perBatch.TotalSeconds, 0);
        }

        public Task<float[][]> EmbedFilesAsync(IReadOnlyList<string> files, CancellationToken cancel) =>
            Task.FromResult(files.Select((_, i) => Vector(-1, i)).ToArray());

        private float[] Vector(long seed, long index)
        {
            var random = new Random((int)(seed * 31 + index) ^ (int)(seed >> 32));
            var v = new float[dimension];
            double norm = 0;
            for (int k = 0; k < dimension; k++) norm += (v[k] = (float)(random.NextDouble() * 2 - 1)) * v[k];
            for (int k = 0; k < dimension; k++) v[k] /= (float)Math.Sqrt(norm);
            return v;
        }

        private static long Fnv1a(string s)
        {
            ulong h = 14695981039346656037;
            foreach (char c in s) h = (h ^ c) * 1099511628211;
            return (long)(h >> 24);
        }

        public void Dispose() { }
    }
}
