using FineXtract.Grains;
using FineXtract.Sampling;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Serialization;
using StackExchange.Redis;

namespace FineXtract.Silo;

/// <summary>
/// The Orleans part of a FineXtract silo, shared by the real host, the embedded silo and the test clusters: grains by
/// role, storage, reminders, options, meters.
/// </summary>
public static class FineXtractSilo
{
    /// <summary>Control-plane grain classes (never on sampler-only silos).</summary>
    public static readonly Type[] ControlGrains =
        [typeof(CampaignGrain), typeof(CheckpointAuditGrain), typeof(ClusteringGrain), typeof(CampaignIndexGrain), typeof(FetchGrain)];

    /// <summary>Sampler grain classes (never on control-only silos).</summary>
    public static readonly Type[] SamplerGrains = [typeof(SamplerGrain)];

    public static ISiloBuilder AddFineXtract(this ISiloBuilder silo, SiloSettings settings)
    {
        if (settings.Embedded)
        {
            silo.AddMemoryGrainStorageAsDefault();
            silo.UseInMemoryReminderService();
        }
        else
        {
            var redis = ConfigurationOptions.Parse(settings.Redis!);
            redis.AbortOnConnectFail = false;
            silo.AddRedisGrainStorageAsDefault(o => o.ConfigurationOptions = redis.Clone());
            silo.UseRedisReminderService(o => o.ConfigurationOptions = redis.Clone());
        }
        AddServices(silo.Services, settings);
        return silo;
    }

    public static void AddServices(IServiceCollection services, SiloSettings settings)
    {
        services.Configure<ArtifactOptions>(o => o.Root = Path.GetFullPath(settings.Artifacts));
        services.Configure<CampaignOptions>(o =>
        {
            if (settings.PollInterval is { } poll) o.PollInterval = poll;
        });
        services.AddSingleton<CampaignMetrics>();
        services.Configure<ExceptionSerializationOptions>(o => o.SupportedNamespacePrefixes.Add("FineXtract"));
        // Heterogeneous silos: a role drops the grain classes it must never host, so placement never picks it for them.
        services.PostConfigure<GrainTypeOptions>(o =>
        {
            if (!settings.HostsSamplers) foreach (var t in SamplerGrains) o.Classes.Remove(t);
            if (!settings.HostsControl) foreach (var t in ControlGrains) o.Classes.Remove(t);
        });
        if (settings.HostsSamplers)
            services.AddFineXtractSampling(o => o.Slots = Math.Max(1, settings.SamplerSlots), settings.SleepSampler);
        if (settings.FastFailureDetection)
        {
            services.Configure<ClusterMembershipOptions>(o =>
            {
                o.ProbeTimeout = TimeSpan.FromSeconds(1);
                o.NumMissedProbesLimit = 2;
                o.NumVotesForDeathDeclaration = 1;
                o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
                o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(10);
            });
        }
    }

    /// <summary>Client side: exceptions from FineXtract code arrive as themselves; the grain-type map refreshes often.</summary>
    public static IClientBuilder AddFineXtractClient(this IClientBuilder client)
    {
        client.Services.Configure<ExceptionSerializationOptions>(o => o.SupportedNamespacePrefixes.Add("FineXtract"));
        // Which silo hosts which grain type: learn it soon after the cluster (heterogeneous by role) has formed.
        client.Services.Configure<TypeManagementOptions>(o => o.TypeMapRefreshInterval = TimeSpan.FromSeconds(2));
        return client;
    }
}
