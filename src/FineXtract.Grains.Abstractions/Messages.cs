namespace FineXtract.Grains;

/// <summary>One line of a campaign manifest (JSONL): which checkpoint to audit and against which base.</summary>
/// <param name="Id">Unique within the manifest; names the checkpoint's result folder.</param>
/// <param name="Base">Pretrained base: a path (diffusers folder or single file) or an http(s) URL of a single file.</param>
/// <param name="FineTuned">A full fine-tune (path or URL); exactly one of this and <paramref name="Lora"/>.</param>
/// <param name="Lora">A LoRA .safetensors (path or URL).</param>
/// <param name="Prompt">The training caption; null or "auto" recovers it.</param>
/// <param name="Reference">Folder of the true training images (adds AS / A-ESR).</param>
/// <param name="Sha256">Expected SHA-256 of the fine-tune or LoRA file.</param>
[GenerateSerializer, Immutable, Alias("fx.CheckpointEntry")]
public sealed record CheckpointEntry(
    [property: Id(0)] string Id,
    [property: Id(1)] string Base,
    [property: Id(2)] string? FineTuned = null,
    [property: Id(3)] string? Lora = null,
    [property: Id(4)] string? Prompt = null,
    [property: Id(5)] string? Reference = null,
    [property: Id(6)] string? Sha256 = null,
    [property: Id(7)] double LoraScale = 1.0);

/// <summary>
/// How to sample, cluster and evaluate; null fields take the core's defaults (one place decides defaults:
/// FineXtract.Core's ExtractionDefaults and GuidanceSettings).
/// </summary>
[GenerateSerializer, Immutable, Alias("fx.ExtractionParameters")]
public sealed record ExtractionParameters
{
    [Id(0)] public int? Images { get; init; }
    [Id(1)] public int? Batch { get; init; }
    [Id(2)] public int? Steps { get; init; }
    [Id(3)] public long? Seed { get; init; }
    /// <summary>finextract | cfg | direct</summary>
    [Id(4)] public string? Method { get; init; }
    /// <summary>conditional | same-caption | caption-free</summary>
    [Id(5)] public string? Variant { get; init; }
    [Id(6)] public double? Guidance { get; init; }
    [Id(7)] public double? FixTerm { get; init; }
    /// <summary>faithful | ddim</summary>
    [Id(8)] public string? Sampler { get; init; }
    /// <summary>faithful | exact-n</summary>
    [Id(9)] public string? Selection { get; init; }
    [Id(10)] public int? Expected { get; init; }
    [Id(11)] public int? LatentSize { get; init; }
    [Id(12)] public long? ClusterWorkBudget { get; init; }
    [Id(13)] public string? Descriptor { get; init; }
    [Id(14)] public string? Preprocess { get; init; }
    [Id(15)] public string? Tokenizer { get; init; }
    /// <summary>Stop sampling once the selected clusters have not changed for <see cref="EarlyStopPatience"/> batches (off: code-faithful).</summary>
    [Id(16)] public bool EarlyStop { get; init; }
    [Id(17)] public int? EarlyStopPatience { get; init; }
    /// <summary>Sampler activations one checkpoint's batches are spread over (each merges the fine-tune once).</summary>
    [Id(18)] public int? SamplersPerCheckpoint { get; init; }
}

/// <summary>What a campaign shares across its checkpoints.</summary>
[GenerateSerializer, Immutable, Alias("fx.CampaignParameters")]
public sealed record CampaignParameters
{
    [Id(0)] public ExtractionParameters Extraction { get; init; } = new();
    /// <summary>Checkpoints audited at once (default 16).</summary>
    [Id(1)] public int? Parallel { get; init; }
    /// <summary>Descriptor similarity at which two checkpoints' extracted images count as the same image (default 0.95).</summary>
    [Id(2)] public double? ShareThreshold { get; init; }
    /// <summary>Largest file a URL may deliver, in bytes (default 16 GiB).</summary>
    [Id(3)] public long? MaxDownloadBytes { get; init; }
}

[GenerateSerializer, Immutable, Alias("fx.CampaignSubmission")]
public sealed record CampaignSubmission(
    [property: Id(0)] IReadOnlyList<CheckpointEntry> Checkpoints,
    [property: Id(1)] CampaignParameters Parameters,
    [property: Id(2)] string? Name = null);

[Alias("fx.CheckpointState")]
public enum CheckpointState
{
    Queued,
    Fetching,
    Sampling,
    Clustering,
    Done,
    Failed,
    Cancelled,
}

public static class CheckpointStates
{
    public static bool IsTerminal(this CheckpointState s) => s is CheckpointState.Done or CheckpointState.Failed or CheckpointState.Cancelled;

    public static string Name(this CheckpointState s) => s.ToString().ToLowerInvariant();
}

/// <summary>Everything a checkpoint audit needs: what to audit, how, and where its evidence goes.</summary>
/// <param name="OutputFolder">Absolute evidence folder (images/, extracted/, results.json, report.html); on the artifact root.</param>
/// <param name="WorkFolder">Absolute folder for batch records and fetched-file bookkeeping; may be deleted after the audit.</param>
/// <param name="CacheFolder">Absolute content-addressed download cache (shared by every audit of the cluster).</param>
[GenerateSerializer, Immutable, Alias("fx.AuditSpec")]
public sealed record AuditSpec(
    [property: Id(0)] string? CampaignId,
    [property: Id(1)] CheckpointEntry Checkpoint,
    [property: Id(2)] ExtractionParameters Parameters,
    [property: Id(3)] string OutputFolder,
    [property: Id(4)] string WorkFolder,
    [property: Id(5)] string CacheFolder,
    [property: Id(6)] long MaxDownloadBytes = AuditSpec.DefaultMaxDownloadBytes,
    [property: Id(7)] bool KeepWorkFolder = false,
    [property: Id(8)] double ShareThreshold = AuditSpec.DefaultShareThreshold)
{
    public const long DefaultMaxDownloadBytes = 16L << 30;
    public const double DefaultShareThreshold = 0.95;
}

/// <summary>Where one checkpoint audit stands.</summary>
[GenerateSerializer, Immutable, Alias("fx.AuditStatus")]
public sealed record AuditStatus
{
    [Id(0)] public CheckpointState State { get; init; }
    [Id(1)] public string? Reason { get; init; }
    /// <summary>Human-readable phase ("fetching", "loading models", "sampling" …).</summary>
    [Id(2)] public string Phase { get; init; } = "queued";
    [Id(3)] public int ImagesDone { get; init; }
    [Id(4)] public int ImagesPlanned { get; init; }
    [Id(5)] public long UNetEvaluations { get; init; }
    [Id(6)] public double SamplingSeconds { get; init; }
    [Id(7)] public long EvaluationsSavedByEarlyStop { get; init; }
    [Id(8)] public int Extracted { get; init; }
    /// <summary>Extracted images matching a reference image (descriptor similarity at least 0.5).</summary>
    [Id(9)] public int Hits { get; init; }
    [Id(10)] public string? ResultsFile { get; init; }
    [Id(11)] public string? ResultStatus { get; init; }
    [Id(12)] public double? AverageSimilarity { get; init; }
    [Id(13)] public DateTimeOffset? StartedAt { get; init; }
    [Id(14)] public DateTimeOffset? FinishedAt { get; init; }
    [Id(15)] public int Attempts { get; init; }
    [Id(16)] public string? Prompt { get; init; }
}

/// <summary>One checkpoint of a campaign, as the campaign records it.</summary>
[GenerateSerializer, Immutable, Alias("fx.CheckpointStatus")]
public sealed record CheckpointStatus(
    [property: Id(0)] string Id,
    [property: Id(1)] CheckpointState State,
    [property: Id(2)] string? Reason,
    [property: Id(3)] int ImagesDone,
    [property: Id(4)] int ImagesPlanned,
    [property: Id(5)] long UNetEvaluations,
    [property: Id(6)] long EvaluationsSaved,
    [property: Id(7)] int Extracted,
    [property: Id(8)] int Hits,
    [property: Id(9)] double? AverageSimilarity,
    [property: Id(10)] double Seconds);

[Alias("fx.CampaignState")]
public enum CampaignState
{
    Running,
    Completed,
    Cancelled,
}

[GenerateSerializer, Immutable, Alias("fx.CampaignStatus")]
public sealed record CampaignStatus
{
    [Id(0)] public required string Id { get; init; }
    [Id(1)] public string? Name { get; init; }
    [Id(2)] public CampaignState State { get; init; }
    [Id(3)] public int Total { get; init; }
    /// <summary>Checkpoints per state name (queued, fetching, sampling, clustering, done, failed, cancelled).</summary>
    [Id(4)] public IReadOnlyDictionary<string, int> Counts { get; init; } = new Dictionary<string, int>();
    [Id(5)] public DateTimeOffset CreatedAt { get; init; }
    [Id(6)] public DateTimeOffset? FinishedAt { get; init; }
    [Id(7)] public long ImagesGenerated { get; init; }
    [Id(8)] public long UNetEvaluations { get; init; }
    [Id(9)] public long EvaluationsSavedByEarlyStop { get; init; }
    [Id(10)] public int Hits { get; init; }
    [Id(11)] public int SharedImages { get; init; }
    [Id(12)] public string? OutputFolder { get; init; }

    public int Count(CheckpointState s) => Counts.TryGetValue(s.Name(), out var n) ? n : 0;
}

/// <summary>Two checkpoints whose extracted images look alike: the same training image in both, most likely.</summary>
[GenerateSerializer, Immutable, Alias("fx.SharedImage")]
public sealed record SharedImage(
    [property: Id(0)] string CheckpointA,
    [property: Id(1)] int ImageA,
    [property: Id(2)] string CheckpointB,
    [property: Id(3)] int ImageB,
    [property: Id(4)] double Similarity);

/// <summary>One extracted image of a checkpoint (generated image index and its descriptor embedding).</summary>
[GenerateSerializer, Immutable, Alias("fx.ExtractedEmbedding")]
public sealed record ExtractedEmbedding([property: Id(0)] int Image, [property: Id(1)] float[] Embedding);

/// <summary>The final summary of a campaign: every checkpoint once, plus the cross-checkpoint index.</summary>
[GenerateSerializer, Immutable, Alias("fx.CampaignReport")]
public sealed record CampaignReport(
    [property: Id(0)] CampaignStatus Status,
    [property: Id(1)] IReadOnlyList<CheckpointStatus> Checkpoints,
    [property: Id(2)] IReadOnlyList<SharedImage> Shared,
    [property: Id(3)] CampaignParameters Parameters);

/// <summary>A sampler's job: the core extraction request (JSON) plus who asked.</summary>
/// <param name="JobId">The audit's key; a sampler activation serves one job at a time.</param>
/// <param name="RequestJson">FineXtract.Core's ExtractionRequest as JSON (files already resolved to local paths).</param>
[GenerateSerializer, Immutable, Alias("fx.SamplerJob")]
public sealed record SamplerJob([property: Id(0)] string JobId, [property: Id(1)] string RequestJson);

/// <summary>A prepared job: FineXtract.Core's ExtractionContext as JSON (inputs hashed, prompt resolved).</summary>
[GenerateSerializer, Immutable, Alias("fx.SamplerPrepared")]
public sealed record SamplerPrepared([property: Id(0)] string ContextJson, [property: Id(1)] string Silo, [property: Id(2)] double Seconds);

/// <summary>One rendered seed batch: image files (relative to the job's output folder) and embeddings, never tensors.</summary>
[GenerateSerializer, Immutable, Alias("fx.SampledBatch")]
public sealed record SampledBatch(
    [property: Id(0)] long Start,
    [property: Id(1)] IReadOnlyList<string> Files,
    [property: Id(2)] float[][] Embeddings,
    [property: Id(3)] long UNetEvaluations,
    [property: Id(4)] double SamplingSeconds,
    [property: Id(5)] double EmbeddingSeconds,
    [property: Id(6)] string Silo);

/// <summary>The clustering grain's view after a merge.</summary>
/// <param name="Merged">Embeddings in the similarity graph (a contiguous prefix of image indices).</param>
/// <param name="Stable">The selected clusters have not changed for the configured number of merges.</param>
[GenerateSerializer, Immutable, Alias("fx.ClusterUpdate")]
public sealed record ClusterUpdate(
    [property: Id(0)] int Merged,
    [property: Id(1)] int Clusters,
    [property: Id(2)] string? Fingerprint,
    [property: Id(3)] int UnchangedFor,
    [property: Id(4)] bool Stable,
    [property: Id(5)] IReadOnlyList<long> Batches);

/// <summary>How the clustering grain decides that the cluster set is stable.</summary>
[GenerateSerializer, Immutable, Alias("fx.ClusteringSettings")]
public sealed record ClusteringSettings(
    [property: Id(0)] int Expected,
    [property: Id(1)] long WorkBudget,
    [property: Id(2)] bool ExactN,
    [property: Id(3)] int Patience,
    [property: Id(4)] int MinImages);
