using System.Diagnostics;
using FineXtract.Extraction.Pipeline;
using Orleans.Runtime;

namespace FineXtract.Sampling;

/// <summary>
/// Renders seed batches for one job at a time. The job's models (the fine-tune merged once) stay open in the
/// activation between batches; the base comes from the silo's <see cref="BaseModelCache"/>. Heavy work runs on the
/// thread pool while the silo's <see cref="SamplerSlots"/> bound how much runs at once.
/// </summary>
[CollectionAgeLimit(Minutes = 10)]
public sealed class SamplerGrain(ISamplerBackend backend, SamplerSlots slots, SamplerMetrics metrics, ILocalSiloDetails silo) : Grain, ISamplerGrain
{
    private ISamplerSession? _session;
    private string? _jobId;

    private string SiloName => silo.SiloAddress.ToString();

    public async Task<SamplerPrepared> Prepare(SamplerJob job, CancellationToken cancellationToken = default)
    {
        var timer = Stopwatch.StartNew();
        using (await slots.AcquireAsync(cancellationToken))
        {
            var session = await OpenAsync(job, cancellationToken);
            return new SamplerPrepared(ExtractionJson.Serialize(session.Context), SiloName, timer.Elapsed.TotalSeconds);
        }
    }

    public async Task<SampledBatch> Generate(SamplerJob job, long start, int count, CancellationToken cancellationToken = default)
    {
        var timer = Stopwatch.StartNew();
        IDisposable slot;
        using (metrics.BatchQueued())
            slot = await slots.AcquireAsync(cancellationToken);
        using (slot)
        using (metrics.BatchStarted())
        {
            var session = await OpenAsync(job, cancellationToken);
            var indices = Enumerable.Range(0, count).Select(i => start + i).ToList();
            var batch = await session.GenerateAsync(indices, session.Context.Request.OutputFolder, cancellationToken);
            metrics.BatchFinished(count, batch.UNetEvaluations, batch.SamplingSeconds, timer.Elapsed.TotalSeconds);
            return new SampledBatch(start, batch.Files, [.. batch.Embeddings], batch.UNetEvaluations, batch.SamplingSeconds, batch.EmbeddingSeconds, SiloName);
        }
    }

    public async Task<float[][]> EmbedFiles(SamplerJob job, IReadOnlyList<string> files, CancellationToken cancellationToken = default)
    {
        using (await slots.AcquireAsync(cancellationToken))
        {
            var session = await OpenAsync(job, cancellationToken);
            return await session.EmbedFilesAsync(files, cancellationToken);
        }
    }

    public Task<string> Where() => Task.FromResult(SiloName);

    public Task Release()
    {
        CloseSession();
        DeactivateOnIdle();
        return Task.CompletedTask;
    }

    private async Task<ISamplerSession> OpenAsync(SamplerJob job, CancellationToken cancel)
    {
        if (_session is not null && _jobId == job.JobId) return _session;
        CloseSession();
        var request = ExtractionJson.Deserialize<ExtractionRequest>(job.RequestJson);
        _session = await Task.Run(() => backend.Open(request), cancel);
        _jobId = job.JobId;
        return _session;
    }

    private void CloseSession()
    {
        _session?.Dispose();
        _session = null;
        _jobId = null;
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        CloseSession();
        return Task.CompletedTask;
    }
}
