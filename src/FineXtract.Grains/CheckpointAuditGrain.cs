using System.Diagnostics;
using FineXtract.Extraction.Evidence;
using FineXtract.Extraction.Imaging;
using FineXtract.Extraction.Pipeline;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FineXtract.Grains;

/// <summary>The durable part of an audit: small records only (images and embeddings live under the artifact root).</summary>
[GenerateSerializer, Alias("fx.AuditGrainState")]
public sealed class AuditGrainState
{
    [Id(0)] public AuditSpec? Spec { get; set; }
    [Id(1)] public AuditStatus Status { get; set; } = new();
    /// <summary>The core request with every file resolved to a local path.</summary>
    [Id(2)] public string? RequestJson { get; set; }
    /// <summary>What the sampler prepared (inputs hashed, prompt resolved).</summary>
    [Id(3)] public string? ContextJson { get; set; }
    /// <summary>First image index of every finished batch (its embeddings are in the work folder).</summary>
    [Id(4)] public List<long> Batches { get; set; } = [];
    [Id(5)] public long Evaluations { get; set; }
    [Id(6)] public double SamplingSeconds { get; set; }
    [Id(7)] public double EmbeddingSeconds { get; set; }
    [Id(8)] public bool CancelRequested { get; set; }
    [Id(9)] public bool EarlyStopped { get; set; }
    [Id(10)] public int Attempts { get; set; }
    [Id(11)] public double ElapsedSeconds { get; set; }
}

/// <summary>
/// One checkpoint audit: resolve and verify the files (local or fetched into the content-addressed cache), prepare
/// the job on a sampler (models loaded, prompt given or recovered), split the seed range into batches and dispatch
/// them, feed each result to the clustering grain (early stop when the clusters have settled, if asked), then build
/// the evidence folder with the core's <see cref="EvidenceBuilder"/>. The work runs in an interleaving grain timer,
/// so status and cancel calls are answered while it runs; it resumes from its durable state after a restart, and
/// a batch is keyed by (checkpoint, seed, first index), so running one twice never duplicates a result.
/// </summary>
public sealed class CheckpointAuditGrain(
    [PersistentState("audit")] IPersistentState<AuditGrainState> state,
    IOptions<CampaignOptions> options,
    CampaignMetrics metrics,
    ILogger<CheckpointAuditGrain> log) : Grain, ICheckpointAuditGrain
{
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private IGrainTimer? _runner;
    private IGrainTimer? _keepAlive;
    private bool _running;
    private CancellationTokenSource _cancel = new();
    private double _rate;

    private string Key => this.GetPrimaryKeyString();
    private AuditGrainState S => state.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Spec is not null && !S.Status.State.IsTerminal()) Schedule(TimeSpan.Zero);
        return Task.CompletedTask;
    }

    public async Task<AuditStatus> Start(AuditSpec spec)
    {
        if (S.Spec is null)
        {
            S.Spec = spec;
            S.Status = new AuditStatus { State = CheckpointState.Queued, Phase = "queued", StartedAt = DateTimeOffset.UtcNow };
            await PersistAsync();
        }
        if (!S.Status.State.IsTerminal()) Schedule(TimeSpan.Zero);
        return GetStatusNow();
    }

    public Task<AuditStatus> GetStatus() => Task.FromResult(GetStatusNow());

    private AuditStatus GetStatusNow() => S.Status with { ImagesDone = ImagesDone(), UNetEvaluations = S.Evaluations, SamplingSeconds = S.SamplingSeconds };

    public async Task Cancel()
    {
        if (S.Spec is null || S.Status.State.IsTerminal()) return;
        S.CancelRequested = true;
        await PersistAsync();
        _cancel.Cancel();
        Schedule(TimeSpan.Zero);
    }

    private void Schedule(TimeSpan due)
    {
        if (_running) return;
        _running = true;
        _runner?.Dispose();
        _runner = this.RegisterGrainTimer(RunTickAsync, new GrainTimerCreationOptions(due, Timeout.InfiniteTimeSpan) { Interleave = true, KeepAlive = true });
        _keepAlive ??= this.RegisterGrainTimer(() => Task.CompletedTask,
            new GrainTimerCreationOptions(TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1)) { Interleave = true, KeepAlive = true });
    }

    private async Task RunTickAsync(CancellationToken _)
    {
        TimeSpan? retry = null;
        try
        {
            retry = await RunAsync();
        }
        finally
        {
            _running = false;
            if (retry is { } due && !S.Status.State.IsTerminal()) Schedule(due);
            else if (S.Status.State.IsTerminal())
            {
                _keepAlive?.Dispose();
                _keepAlive = null;
            }
        }
    }

    /// <returns>When to try again after an infrastructure error, or null when the audit has finished.</returns>
    private async Task<TimeSpan?> RunAsync()
    {
        var spec = S.Spec!;
        using var running = metrics.AuditRunning();
        if (_cancel.IsCancellationRequested && !S.CancelRequested) _cancel = new CancellationTokenSource();
        var wall = Stopwatch.StartNew();
        double elapsedBefore = S.ElapsedSeconds;
        try
        {
            if (S.CancelRequested && S.ContextJson is null)
            {
                await FinishAsync(CheckpointState.Cancelled, "cancelled before sampling started");
                return null;
            }
            if (S.RequestJson is null)
            {
                await SetPhaseAsync(CheckpointState.Fetching, "fetching");
                var resolved = await ResolveAsync(spec);
                S.RequestJson = ExtractionJson.Serialize(resolved);
                await PersistAsync();
            }
            var job = new SamplerJob(Key, S.RequestJson);
            if (S.ContextJson is null)
            {
                await SetPhaseAsync(CheckpointState.Sampling, "loading models");
                var prepared = await WithRetryAsync(c => Sampler(0).Prepare(job, c));
                S.ContextJson = prepared.ContextJson;
                await PersistAsync();
            }
            var context = ExtractionJson.Deserialize<ExtractionContext>(S.ContextJson);
            S.Status = S.Status with { Prompt = context.Prompt.Text };
            // Every later call carries the resolved prompt, so a sampler that reopens the job never recovers it again.
            job = job with { RequestJson = ExtractionJson.Serialize(context.Request with { Prompt = context.Prompt.Text }) };

            if (!S.CancelRequested && !S.EarlyStopped && ImagesDone() < context.Request.Images)
                await SampleAsync(spec, context, job);

            await SetPhaseAsync(CheckpointState.Clustering, "clustering and evaluating");
            var store = new BatchStore(spec.WorkFolder);
            var embeddings = S.Batches.Order().SelectMany(store.Read).ToList();
            float[][]? references = null;
            if (context.Request.ReferenceFolder is { } referenceFolder && embeddings.Count > 0)
            {
                var files = ImageIO.ListImages(referenceFolder);
                if (files.Count > 0) references = await WithRetryAsync(c => Sampler(0).EmbedFiles(job, files, c), ignoreCancel: true);
            }
            int planned = context.Request.Images;
            EarlyStopRecord? earlyStop = S.EarlyStopped
                ? new EarlyStopRecord(spec.Parameters.EarlyStopPatience ?? DefaultPatience, embeddings.Count, planned,
                    (long)(planned - embeddings.Count) * context.UNetEvaluationsPerImage)
                : null;
            string status = S.CancelRequested ? "cancelled" : earlyStop is not null ? "early-stopped" : "completed";
            double elapsed = elapsedBefore + wall.Elapsed.TotalSeconds;
            // Grain state is read here, on the activation; the build itself runs on the thread pool.
            var (startedAt, evaluations, sampling, embedding) = (S.Status.StartedAt ?? DateTimeOffset.UtcNow, S.Evaluations, S.SamplingSeconds, S.EmbeddingSeconds);
            var results = await Task.Run(() => EvidenceBuilder.Build(context, embeddings, references is null ? null : _ => references, status,
                startedAt, evaluations, sampling, embedding, elapsed + context.LoadSeconds, earlyStop));

            if (spec.CampaignId is { } campaign && results.Extracted.Count > 0)
            {
                var extracted = results.Extracted.Select(x => new ExtractedEmbedding(x.Image, embeddings[x.Image])).ToList();
                await WithRetryAsync(_ => GrainFactory.GetGrain<ICampaignIndexGrain>(campaign).Add(spec.Checkpoint.Id, extracted, spec.ShareThreshold),
                    ignoreCancel: true);
            }
            S.Status = S.Status with
            {
                Extracted = results.Extracted.Count,
                Hits = results.Extracted.Count(x => x.BestReferenceSimilarity >= 0.5),
                AverageSimilarity = results.Metrics?.AverageSimilarity,
                ResultsFile = Path.Combine(spec.OutputFolder, EvidenceBuilder.ResultsFile),
                ResultStatus = results.Status,
                ImagesPlanned = planned,
                EvaluationsSavedByEarlyStop = earlyStop?.UNetEvaluationsSaved ?? 0,
            };
            S.ElapsedSeconds = elapsed;
            await FinishAsync(S.CancelRequested ? CheckpointState.Cancelled : CheckpointState.Done, S.CancelRequested ? "cancelled" : null);
            return null;
        }
        catch (Exception e) when (Failures.IsInfrastructure(e) || (e is OperationCanceledException && !S.CancelRequested))
        {
            S.Attempts++;
            S.ElapsedSeconds = elapsedBefore + wall.Elapsed.TotalSeconds;
            log.LogWarning(e, "audit {Key}: attempt {Attempt} hit an infrastructure error", Key, S.Attempts);
            if (S.Attempts >= options.Value.AuditAttempts)
            {
                await FinishAsync(CheckpointState.Failed, $"gave up after {S.Attempts} attempts: {Failures.Reason(e)}");
                return null;
            }
            try
            {
                await PersistAsync();
            }
            catch (Exception inner)
            {
                log.LogWarning(inner, "audit {Key}: could not record the attempt", Key);
            }
            return TimeSpan.FromSeconds(Math.Min(30, Math.Pow(2, S.Attempts)));
        }
        catch (Exception e)
        {
            log.LogInformation("audit {Key} failed: {Reason}", Key, Failures.Reason(e));
            await FinishAsync(CheckpointState.Failed, Failures.Reason(e));
            return null;
        }
    }

    private const int DefaultPatience = 3;

    private async Task SampleAsync(AuditSpec spec, ExtractionContext context, SamplerJob job)
    {
        await SetPhaseAsync(CheckpointState.Sampling, "sampling");
        var request = context.Request;
        var store = new BatchStore(spec.WorkFolder);
        var clustering = GrainFactory.GetGrain<IClusteringGrain>(Key);
        int patience = spec.Parameters.EarlyStop ? spec.Parameters.EarlyStopPatience ?? DefaultPatience : 0;
        await WithRetryAsync(_ => clustering.Configure(new ClusteringSettings(context.Parameters.Expected, request.ClusterWorkBudget,
            request.Selection == Extraction.Clustering.SelectionMode.ExactN, patience, request.Batch)), ignoreCancel: true);
        await FeedMissingAsync(clustering, store);

        var todo = new Queue<long>(Enumerable.Range(0, (request.Images + request.Batch - 1) / request.Batch)
            .Select(i => (long)i * request.Batch).Where(s => !S.Batches.Contains(s)));
        bool stop = false;
        var rate = Stopwatch.StartNew();
        long evaluationsAtStart = S.Evaluations;
        int workers = Math.Clamp(spec.Parameters.SamplersPerCheckpoint ?? 1, 1, 64);
        await Task.WhenAll(Enumerable.Range(0, workers).Select(async slot =>
        {
            while (!stop && !S.CancelRequested && todo.TryDequeue(out long start))
            {
                int count = (int)Math.Min(request.Batch, request.Images - start);
                SampledBatch batch;
                try
                {
                    batch = await WithRetryAsync(c => Sampler(slot).Generate(job, start, count, c));
                }
                catch (OperationCanceledException) when (S.CancelRequested)
                {
                    return;
                }
                if (batch.Embeddings.Length != count) throw new FineXtractException($"sampler returned {batch.Embeddings.Length} embeddings for {count} images");
                store.Write(start, batch.Embeddings);
                if (!S.Batches.Contains(start))
                {
                    S.Batches.Add(start);
                    S.Evaluations += batch.UNetEvaluations;
                    S.SamplingSeconds += batch.SamplingSeconds;
                    S.EmbeddingSeconds += batch.EmbeddingSeconds;
                }
                _rate = (S.Evaluations - evaluationsAtStart) / Math.Max(rate.Elapsed.TotalSeconds, 1e-9);
                await PersistAsync();
                var update = await WithRetryAsync(_ => clustering.AddBatch(start, batch.Embeddings), ignoreCancel: true);
                if (update.Batches.Count < S.Batches.Count) update = await FeedMissingAsync(clustering, store) ?? update;
                if (patience > 0 && update.Stable && !stop)
                {
                    stop = true;
                    S.EarlyStopped = todo.Count > 0;
                }
            }
        }));
        if (S.EarlyStopped) await PersistAsync();
        await clustering.Clear();
    }

    /// <summary>Re-sends recorded batches the clustering grain lacks (it lives in memory and may have been lost).</summary>
    private async Task<ClusterUpdate?> FeedMissingAsync(IClusteringGrain clustering, BatchStore store)
    {
        ClusterUpdate? update = null;
        foreach (var start in S.Batches.Order().ToList())
            update = await WithRetryAsync(_ => clustering.AddBatch(start, store.Read(start)), ignoreCancel: true);
        return update;
    }

    private ISamplerGrain Sampler(int slot) => GrainFactory.GetGrain<ISamplerGrain>($"{Key}#{slot}");

    private async Task<ExtractionRequest> ResolveAsync(AuditSpec spec)
    {
        var entry = spec.Checkpoint;
        if ((entry.FineTuned is null) == (entry.Lora is null))
            throw new FineXtractException("give exactly one of 'finetuned' and 'lora'");
        string basePath = await ResolveFileAsync(spec, entry.Base, null);
        string? fineTuned = entry.FineTuned is { } f ? await ResolveFileAsync(spec, f, entry.Sha256) : null;
        string? lora = entry.Lora is { } l ? await ResolveFileAsync(spec, l, entry.Sha256) : null;
        string? reference = null;
        if (entry.Reference is { } r)
        {
            if (Uris.IsRemote(r)) throw new FineXtractException($"{r}: reference sets must be folders the silos can read, not URLs");
            reference = Uris.LocalPath(r);
            if (!Directory.Exists(reference)) throw new FineXtractException($"{r}: reference folder not found");
        }
        return RequestBuilder.Build(spec.Parameters, basePath, fineTuned, lora, entry.LoraScale, entry.Prompt, reference, spec.OutputFolder);
    }

    private async Task<string> ResolveFileAsync(AuditSpec spec, string uri, string? sha256)
    {
        if (Uris.IsRemote(uri))
            return await WithRetryAsync(_ => GrainFactory.GetGrain<IFetchGrain>(uri).Fetch(spec.CacheFolder, sha256, spec.MaxDownloadBytes));
        string path = Uris.LocalPath(uri);
        if (!File.Exists(path) && !Directory.Exists(path)) throw new FineXtractException($"{uri}: no such file or directory");
        if (sha256 is not null)
        {
            if (!File.Exists(path)) throw new FineXtractException($"{uri}: a SHA-256 was given but this is a folder");
            string actual = await Task.Run(() => InputHashing.Sha256(path));
            if (!string.Equals(actual, sha256.Trim(), StringComparison.OrdinalIgnoreCase))
                throw new FineXtractException($"{uri}: SHA-256 mismatch (expected {sha256.Trim().ToLowerInvariant()}, got {actual})");
        }
        return Path.GetFullPath(path);
    }

    private Task WithRetryAsync(Func<CancellationToken, Task> call, bool ignoreCancel = false) =>
        WithRetryAsync(async c =>
        {
            await call(c);
            return true;
        }, ignoreCancel);

    /// <summary>Retries a call across infrastructure errors (a sampler silo that died, a timeout); the checkpoint's own errors pass through.</summary>
    private async Task<T> WithRetryAsync<T>(Func<CancellationToken, Task<T>> call, bool ignoreCancel = false)
    {
        for (int attempt = 1; ; attempt++)
        {
            var token = ignoreCancel ? CancellationToken.None : _cancel.Token;
            try
            {
                return await call(token);
            }
            catch (Exception e) when (attempt < options.Value.BatchAttempts && Failures.IsInfrastructure(e) && !token.IsCancellationRequested)
            {
                log.LogInformation("audit {Key}: retrying after {Error}", Key, Failures.Reason(e));
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 250 * Math.Pow(2, attempt))));
            }
        }
    }

    private (string Json, ExtractionRequest Request)? _request;

    /// <summary>The resolved request, parsed once per activation (status polls ask for it often).</summary>
    private ExtractionRequest? Request()
    {
        if (S.RequestJson is null) return null;
        if (_request is not { } r || !ReferenceEquals(r.Json, S.RequestJson)) _request = (S.RequestJson, ExtractionJson.Deserialize<ExtractionRequest>(S.RequestJson));
        return _request.Value.Request;
    }

    private int ImagesDone()
    {
        if (S.Batches.Count == 0 || Request() is not { } request) return 0;
        return S.Batches.Sum(s => (int)Math.Min(request.Batch, request.Images - s));
    }

    private async Task SetPhaseAsync(CheckpointState state, string phase)
    {
        if (S.Status.State == state && S.Status.Phase == phase) return;
        S.Status = S.Status with { State = state, Phase = phase };
        if (Request() is { } request && S.Status.ImagesPlanned == 0) S.Status = S.Status with { ImagesPlanned = request.Images };
        await PersistAsync();
    }

    private async Task FinishAsync(CheckpointState final, string? reason)
    {
        var spec = S.Spec!;
        S.Status = S.Status with
        {
            State = final,
            Phase = final.Name(),
            Reason = reason,
            FinishedAt = DateTimeOffset.UtcNow,
            Attempts = S.Attempts,
            UNetEvaluations = S.Evaluations,
            ImagesDone = ImagesDone(),
        };
        await PersistAsync();
        metrics.Finished(S.Status);
        foreach (var slot in Enumerable.Range(0, Math.Clamp(spec.Parameters.SamplersPerCheckpoint ?? 1, 1, 64)))
        {
            try
            {
                await Sampler(slot).Release();
            }
            catch (Exception e)
            {
                log.LogDebug(e, "audit {Key}: sampler release failed", Key);
            }
        }
        if (!spec.KeepWorkFolder && Directory.Exists(spec.WorkFolder))
        {
            try
            {
                Directory.Delete(spec.WorkFolder, true);
            }
            catch (IOException e)
            {
                log.LogDebug(e, "audit {Key}: could not delete {Folder}", Key, spec.WorkFolder);
            }
        }
        if (spec.CampaignId is { } campaign)
        {
            var status = GetStatusNow();
            await WithRetryAsync(_ => GrainFactory.GetGrain<ICampaignGrain>(campaign).OnCheckpointFinished(spec.Checkpoint.Id, status), ignoreCancel: true);
            // Its outcome is durable and recorded: free the activation (10,000 finished audits need no memory).
            DeactivateOnIdle();
        }
    }

    private async Task PersistAsync()
    {
        await _writeLock.WaitAsync();
        try
        {
            await StorageRetry.WriteAsync(state);
        }
        finally
        {
            _writeLock.Release();
        }
    }
}
