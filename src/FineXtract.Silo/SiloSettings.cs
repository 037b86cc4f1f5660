namespace FineXtract.Silo;

/// <summary>What a silo may host: control plane (campaign, audit, clustering grains), samplers, or both.</summary>
public enum SiloRole
{
    All,
    Control,
    Sampler,
}

/// <summary>How `finextract silo` (or the embedded silo of `finextract extract`) runs.</summary>
public sealed record SiloSettings
{
    /// <summary>Redis connection string; null runs an embedded single-process silo (localhost clustering, in-memory storage).</summary>
    public string? Redis { get; init; }
    public SiloRole Role { get; init; } = SiloRole.All;
    public int SiloPort { get; init; } = 11111;
    public int GatewayPort { get; init; } = 30000;
    /// <summary>HTTP port for /metrics, /healthz, the dashboard and the API; null: no HTTP (the embedded silo of `extract`).</summary>
    public int? HttpPort { get; init; } = 8080;
    public string Artifacts { get; init; } = Path.Combine(Path.GetTempPath(), "finextract-artifacts");
    /// <summary>Key the campaign API requires; without one the API is read-only.</summary>
    public string? ApiKey { get; init; }
    public string ServiceId { get; init; } = "finextract";
    public string ClusterId { get; init; } = "finextract";
    /// <summary>Batches run at once on this silo (1 per GPU).</summary>
    public int SamplerSlots { get; init; } = 1;
    /// <summary>Benchmarks only: a sampler that sleeps this long per batch instead of running models.</summary>
    public TimeSpan? SleepSampler { get; init; }
    /// <summary>How often campaigns poll their audits.</summary>
    public TimeSpan? PollInterval { get; init; }
    /// <summary>Failure detection tuned for tests and single-machine clusters (a killed silo is noticed in seconds).</summary>
    public bool FastFailureDetection { get; init; }
    /// <summary>IP address other silos and clients reach this one at (default: $POD_IP, else 127.0.0.1).</summary>
    public string? Advertise { get; init; }
    /// <summary>Silo name in membership and logs (default: host name and silo port).</summary>
    public string? Name { get; init; }

    public bool Embedded => Redis is null;

    public bool HostsSamplers => Role is SiloRole.All or SiloRole.Sampler;

    public bool HostsControl => Role is SiloRole.All or SiloRole.Control;
}
