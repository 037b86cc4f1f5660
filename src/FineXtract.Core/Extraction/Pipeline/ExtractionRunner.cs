using System.Diagnostics;
using FineXtract.Extraction.Evidence;

namespace FineXtract.Extraction.Pipeline;

/// <summary>Where a run is: phase, images done, UNet evaluations per second, time left.</summary>
public sealed record ExtractionProgress(string Phase, int ImagesDone, int ImagesTotal, double UNetEvaluationsPerSecond, TimeSpan? Remaining);

/// <summary>
/// One checkpoint audit on one machine: open the session (hash inputs, load models once, prompt), generate and embed
/// the seed batches in order, then build the evidence folder. Cancellation stops after the current denoising step and
/// still writes a valid partial result over the images finished so far.
/// </summary>
public static class ExtractionRunner
{
    public static ExtractionResults Run(ExtractionRequest request, IProgress<ExtractionProgress>? progress = null, CancellationToken cancel = default)
    {
        var started = DateTimeOffset.UtcNow;
        var total = Stopwatch.StartNew();
        using var session = ExtractionSession.Open(request, progress);

        var sampling = Stopwatch.StartNew();
        var embeddings = new List<float[]>();
        long evaluations = 0;
        double samplingSeconds = 0, embeddingSeconds = 0;
        bool cancelled = false;
        for (int start = 0; start < request.Images && !cancelled; start += request.Batch)
        {
            var indices = Enumerable.Range(start, Math.Min(request.Batch, request.Images - start)).Select(i => (long)i).ToList();
            try
            {
                var batch = session.GenerateBatch(indices, request.OutputFolder, cancel);
                embeddings.AddRange(batch.Embeddings);
                evaluations += batch.UNetEvaluations;
                samplingSeconds += batch.SamplingSeconds;
                embeddingSeconds += batch.EmbeddingSeconds;
            }
            catch (OperationCanceledException)
            {
                cancelled = true;
                break;
            }
            int done = embeddings.Count;
            progress?.Report(new ExtractionProgress("sampling", done, request.Images, evaluations / Math.Max(samplingSeconds, 1e-9),
                TimeSpan.FromSeconds(sampling.Elapsed.TotalSeconds / done * (request.Images - done))));
            cancelled |= cancel.IsCancellationRequested;
        }

        progress?.Report(new ExtractionProgress("clustering and evaluating", embeddings.Count, request.Images, 0, null));
        var results = EvidenceBuilder.Build(session.Context, embeddings, session.EmbedFiles, cancelled ? "cancelled" : "completed", started,
            evaluations, samplingSeconds, embeddingSeconds, total.Elapsed.TotalSeconds);
        progress?.Report(new ExtractionProgress(cancelled ? "cancelled" : "done", embeddings.Count, request.Images, 0, TimeSpan.Zero));
        return results;
    }
}
