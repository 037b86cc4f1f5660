using FineXtract.Extraction.Pipeline;

namespace FineXtract.Sampling;

/// <summary>What a sampler grain drives: the real TorchSharp pipeline or, for orchestration benchmarks, a stand-in.</summary>
public interface ISamplerBackend
{
    /// <summary>Opens a job: loads and merges models, hashes inputs, resolves the prompt. Slow; runs off the grain scheduler.</summary>
    ISamplerSession Open(ExtractionRequest request);
}

public interface ISamplerSession : IDisposable
{
    ExtractionContext Context { get; }

    Task<GeneratedImages> GenerateAsync(IReadOnlyList<long> indices, string runFolder, CancellationToken cancel);

    Task<float[][]> EmbedFilesAsync(IReadOnlyList<string> files, CancellationToken cancel);
}

/// <summary>The real sampler: <see cref="ExtractionSession"/> over a silo-wide <see cref="BaseModelCache"/>.</summary>
public sealed class TorchSamplerBackend(BaseModelCache baseModels) : ISamplerBackend
{
    public ISamplerSession Open(ExtractionRequest request) => new Session(ExtractionSession.Open(request, null, baseModels));

    private sealed class Session(ExtractionSession session) : ISamplerSession
    {
        public ExtractionContext Context => session.Context;

        public Task<GeneratedImages> GenerateAsync(IReadOnlyList<long> indices, string runFolder, CancellationToken cancel) =>
            Task.Run(() => session.GenerateBatch(indices, runFolder, cancel), cancel);

        public Task<float[][]> EmbedFilesAsync(IReadOnlyList<string> files, CancellationToken cancel) =>
            Task.Run(() => session.EmbedFiles(files), cancel);

        public void Dispose() => session.Dispose();
    }
}
