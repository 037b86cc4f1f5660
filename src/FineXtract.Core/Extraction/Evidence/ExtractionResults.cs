namespace FineXtract.Extraction.Evidence;

/// <summary>The whole record of one extraction run, written as <c>results.json</c>: enough to audit and to reproduce any image.</summary>
public sealed record ExtractionResults
{
    public required ToolInfo Tool { get; init; }
    /// <summary>completed, or cancelled (a valid partial result over the images generated before the stop).</summary>
    public required string Status { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public required IReadOnlyList<InputRecord> Inputs { get; init; }
    public required string BaseFamily { get; init; }
    public required FineTuneRecord FineTune { get; init; }
    public required PromptRecord Prompt { get; init; }
    public required ParametersRecord Parameters { get; init; }
    public required GeneratedRecord Generated { get; init; }
    public ClusteringRecord? Clustering { get; init; }
    public IReadOnlyList<ExtractedRecord> Extracted { get; init; } = [];
    public MetricsRecord? Metrics { get; init; }
    public required TimingsRecord Timings { get; init; }
    /// <summary>Set when sampling stopped early because the cluster set had stopped changing (an option; off for code-faithful runs).</summary>
    public EarlyStopRecord? EarlyStop { get; init; }
}

/// <summary>Early stop: after <paramref name="Patience"/> batches without a change of the selected clusters, at image count <paramref name="StoppedAt"/>.</summary>
public sealed record EarlyStopRecord(int Patience, int StoppedAt, int Planned, long UNetEvaluationsSaved);

public sealed record ToolInfo(string Name, string Version, string TorchSharp, string Device, string DType, int Threads, string Machine);

/// <summary>A user-supplied input and the SHA-256 of every file read from it.</summary>
public sealed record InputRecord(string Role, string Path, IReadOnlyList<FileRecord> Files);

public sealed record FileRecord(string Path, long Bytes, string Sha256);

public sealed record FineTuneRecord(string Kind, double? LoraScale, string? LoraFormat, int LoraModulesMerged, bool TextEncoderChanged);

public sealed record PromptRecord(string Text, string Source, string? Reason, IReadOnlyList<PromptCandidateRecord>? Candidates);

public sealed record PromptCandidateRecord(string Prompt, string Source, double Score, string Evidence);

public sealed record ParametersRecord(
    string Method, string Variant, double GuidanceScale, double FixTerm, string Sampler, string SchedulerClass, int Steps,
    int Images, int Batch, long Seed, int LatentSize, int ImageSize, string Selection, int Expected, long ClusterWorkBudget,
    DescriptorRecord Descriptor, string SeedDerivation);

public sealed record DescriptorRecord(string Name, bool IsSscd, int Dimension, string Preprocessing, string? Warning);

public sealed record GeneratedRecord(int Count, string Folder, long UNetEvaluations, int UNetEvaluationsPerImage);

public sealed record ClusteringRecord(
    string Selection, double Threshold, string OfficialDirectoryName, double StartThreshold, int M, int Rounds, int BudgetExceededRounds,
    long Work, IReadOnlyList<ClusterRecord> Clusters);

public sealed record ClusterRecord(int Size, int Representative, IReadOnlyList<int> Members);

/// <summary>One extracted image: a selected cluster's representative.</summary>
public sealed record ExtractedRecord(int Rank, int Image, string File, int ClusterSize, string? BestReference, double? BestReferenceSimilarity);

/// <summary>
/// AS / A-ESR of the extracted set, of all generated images (Oracle: an upper bound no attacker can pick), and of the
/// first N generated images (FirstN: what is left without clustering, the baselines' "direct" and "CFG" rows).
/// </summary>
public sealed record MetricsRecord(
    string Descriptor, double AverageSimilarity, IReadOnlyDictionary<string, double> SuccessRates, IReadOnlyList<ReferenceMatchRecord> PerImage,
    double OracleAverageSimilarity, IReadOnlyDictionary<string, double> OracleSuccessRates,
    int FirstN, double FirstNAverageSimilarity, IReadOnlyDictionary<string, double> FirstNSuccessRates);

public sealed record ReferenceMatchRecord(string Reference, string BestExtracted, int BestExtractedImage, double Similarity);

public sealed record TimingsRecord(double LoadSeconds, double PromptSeconds, double SamplingSeconds, double EmbeddingSeconds, double ClusteringSeconds,
    double TotalSeconds, double UNetEvaluationsPerSecond);
