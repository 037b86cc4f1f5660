using FineXtract.Silo;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace FineXtract.Grains.Tests;

/// <summary>
/// An in-process cluster of three silos: "Silo_0" is control-only (campaign, audit, clustering grains) and the
/// two secondaries are sampler-only silos running the real tiny models. Shared by the tests of one collection.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public string Artifacts { get; } = Directory.CreateTempSubdirectory("fx-grains-").FullName;

    public IClusterClient Client => Cluster.Client;

    public static SiloRole RoleOf(string siloName) => siloName == "Silo_0" ? SiloRole.Control : SiloRole.Sampler;

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(3);
        builder.Options.AssumeHomogenousSilosForTesting = false;
        builder.ConfigureSilo((options, silo) =>
        {
            silo.AddFineXtract(new SiloSettings
            {
                Role = RoleOf(options.SiloName),
                Artifacts = Artifacts,
                PollInterval = TimeSpan.FromMilliseconds(300),
                HttpPort = null,
            });
        });
        builder.ConfigureClient(client => client.AddFineXtractClient());
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        await WaitForManifestAsync();
    }

    /// <summary>The client learns which silo hosts what from the cluster manifest, which settles shortly after deployment.</summary>
    public async Task WaitForManifestAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            try
            {
                Client.GetGrain<ICheckpointAuditGrain>("probe");
                Client.GetGrain<ICampaignGrain>("probe");
                Client.GetGrain<ISamplerGrain>("probe");
                return;
            }
            catch (ArgumentException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        try
        {
            Directory.Delete(Artifacts, true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Waits until an audit reaches a terminal state.</summary>
    public async Task<AuditStatus> WaitAsync(ICheckpointAuditGrain audit, TimeSpan timeout, Func<AuditStatus, bool>? until = null)
    {
        until ??= s => s.State.IsTerminal();
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var status = await audit.GetStatus();
            if (until(status)) return status;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"audit still {status.State} ({status.Phase}, {status.ImagesDone} images)");
            await Task.Delay(100);
        }
    }

    public async Task<CampaignStatus> WaitAsync(ICampaignGrain campaign, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var status = (await campaign.GetStatus())!;
            if (status.FinishedAt is not null) return status;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"campaign still running: {string.Join(", ", status.Counts.Where(c => c.Value > 0).Select(c => $"{c.Key} {c.Value}"))}");
            await Task.Delay(200);
        }
    }

    public AuditSpec Spec(string id, CheckpointEntry entry, ExtractionParameters parameters) =>
        new(null, entry, parameters, Path.Combine(Artifacts, "audits", id, "out"), Path.Combine(Artifacts, "audits", id, "work"),
            Path.Combine(Artifacts, "cache"));
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
