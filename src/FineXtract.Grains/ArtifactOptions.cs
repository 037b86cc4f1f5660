namespace FineXtract.Grains;

/// <summary>
/// Where images and evidence go: a folder every silo sees (a shared volume in Kubernetes). Grain state holds only
/// small records; images, bundles and batch records live here.
/// </summary>
public sealed class ArtifactOptions
{
    public string Root { get; set; } = Path.Combine(Path.GetTempPath(), "finextract-artifacts");

    public string CacheFolder => Path.Combine(Root, "cache");

    public string CampaignFolder(string campaignId) => Path.Combine(Root, "campaigns", campaignId);

    public string CheckpointFolder(string campaignId, string checkpointId) => Path.Combine(CampaignFolder(campaignId), "checkpoints", checkpointId);

    public string WorkFolder(string campaignId, string checkpointId) => Path.Combine(CampaignFolder(campaignId), "work", checkpointId);

    public string IndexFolder(string campaignId) => Path.Combine(CampaignFolder(campaignId), "index");
}

/// <summary>How campaigns and audits pace themselves.</summary>
public sealed class CampaignOptions
{
    /// <summary>How often a running campaign checks on its audits (and starts queued ones).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Checkpoints audited at once when the campaign does not say.</summary>
    public int DefaultParallel { get; set; } = 16;

    /// <summary>Attempts per seed batch before the audit gives up on this round (infrastructure errors only).</summary>
    public int BatchAttempts { get; set; } = 6;

    /// <summary>Rounds of a whole audit after infrastructure errors before the checkpoint is failed.</summary>
    public int AuditAttempts { get; set; } = 5;
}

public static class ManifestIds
{
    /// <summary>Checkpoint ids name folders: letters, digits, '.', '_' and '-', 1–128 characters, not "." or "..".</summary>
    public static bool IsValid(string id) =>
        id.Length is >= 1 and <= 128 && id != "." && id != ".." && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
}
