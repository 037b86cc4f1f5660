namespace FineXtract.Grains;

/// <summary>One bulk audit (key: campaign id): a manifest of checkpoints, shared parameters, durable progress.</summary>
[Alias("fx.ICampaignGrain")]
public interface ICampaignGrain : IGrainWithStringKey
{
    /// <summary>Starts the campaign; submitting the same id again returns its status and changes nothing.</summary>
    [Alias("Submit")]
    Task<CampaignStatus> Submit(CampaignSubmission submission);

    [Alias("GetStatus"), AlwaysInterleave]
    Task<CampaignStatus?> GetStatus();

    [Alias("GetCheckpoints"), AlwaysInterleave]
    Task<IReadOnlyList<CheckpointStatus>> GetCheckpoints(int offset, int count);

    [Alias("Cancel")]
    Task Cancel();

    /// <summary>A checkpoint audit reports its terminal state (idempotent: recorded once).</summary>
    [Alias("OnCheckpointFinished")]
    Task OnCheckpointFinished(string checkpointId, AuditStatus status);

    [Alias("GetReport")]
    Task<CampaignReport?> GetReport();

    /// <summary>A file of a checkpoint's evidence folder (results.json, report.html, extracted/…), for clients without the artifact volume.</summary>
    [Alias("ReadEvidenceFile"), AlwaysInterleave]
    Task<byte[]?> ReadEvidenceFile(string checkpointId, string relativePath);
}

/// <summary>One checkpoint audit (key: "campaign/checkpoint", or a one-off id for `finextract extract`).</summary>
[Alias("fx.ICheckpointAuditGrain")]
public interface ICheckpointAuditGrain : IGrainWithStringKey
{
    /// <summary>Starts the audit if it has not started (idempotent) and returns at once; the work runs in the grain.</summary>
    [Alias("Start")]
    Task<AuditStatus> Start(AuditSpec spec);

    [Alias("GetStatus"), AlwaysInterleave]
    Task<AuditStatus> GetStatus();

    /// <summary>Stops sampling; the evidence still covers the images generated so far.</summary>
    [Alias("Cancel"), AlwaysInterleave]
    Task Cancel();
}

/// <summary>Merges one checkpoint's embeddings batch by batch (key: the audit's key); in memory, rebuilt by its audit.</summary>
[Alias("fx.IClusteringGrain")]
public interface IClusteringGrain : IGrainWithStringKey
{
    [Alias("Configure")]
    Task Configure(ClusteringSettings settings);

    /// <summary>Adds a batch (idempotent by its first image index); out-of-order batches wait for the ones before them.</summary>
    [Alias("AddBatch")]
    Task<ClusterUpdate> AddBatch(long start, float[][] embeddings);

    /// <summary>All merged embeddings in image order.</summary>
    [Alias("GetEmbeddings")]
    Task<float[][]> GetEmbeddings();

    [Alias("Clear")]
    Task Clear();
}

/// <summary>
/// Campaign-level index of extracted embeddings (key: campaign id): reports checkpoints whose extracted images
/// look alike.
/// </summary>
[Alias("fx.ICampaignIndexGrain")]
public interface ICampaignIndexGrain : IGrainWithStringKey
{
    /// <summary>Adds a checkpoint's extracted images (idempotent per checkpoint) and returns the matches found for them.</summary>
    [Alias("Add")]
    Task<IReadOnlyList<SharedImage>> Add(string checkpointId, IReadOnlyList<ExtractedEmbedding> extracted, double threshold);

    [Alias("GetShared"), AlwaysInterleave]
    Task<IReadOnlyList<SharedImage>> GetShared();
}

/// <summary>
/// Fetches one remote file into the content-addressed cache (key: the URL): one activation per URL, so a base
/// shared by thousands of LoRAs is downloaded once while the others wait for it.
/// </summary>
[Alias("fx.IFetchGrain")]
public interface IFetchGrain : IGrainWithStringKey
{
    /// <returns>The local path of the verified file.</returns>
    [Alias("Fetch"), ResponseTimeout("02:00:00")]
    Task<string> Fetch(string cacheFolder, string? expectedSha256, long maxBytes);
}

/// <summary>
/// A sampler (key: audit key plus slot). Runs only on sampler-role silos: its class lives in FineXtract.Sampling.Grains,
/// which control-role silos do not register. Keeps base models loaded across checkpoints, merges a fine-tune once
/// per job, renders and embeds seed batches.
/// </summary>
[Alias("fx.ISamplerGrain")]
public interface ISamplerGrain : IGrainWithStringKey
{
    /// <summary>Opens the job (loads and merges models, hashes inputs, resolves the prompt) and returns its context.</summary>
    [Alias("Prepare"), ResponseTimeout("02:00:00")]
    Task<SamplerPrepared> Prepare(SamplerJob job, CancellationToken cancellationToken = default);

    /// <summary>Renders, saves and embeds images [start, start+count); opens the job first if this activation has not.</summary>
    [Alias("Generate"), ResponseTimeout("02:00:00")]
    Task<SampledBatch> Generate(SamplerJob job, long start, int count, CancellationToken cancellationToken = default);

    /// <summary>Embeds image files (the reference set) with the job's descriptor.</summary>
    [Alias("EmbedFiles"), ResponseTimeout("00:30:00")]
    Task<float[][]> EmbedFiles(SamplerJob job, IReadOnlyList<string> files, CancellationToken cancellationToken = default);

    /// <summary>The silo this activation runs on (operations and tests).</summary>
    [Alias("Where")]
    Task<string> Where();

    /// <summary>Frees the job's models (the base stays cached) and lets the activation go.</summary>
    [Alias("Release")]
    Task Release();
}
