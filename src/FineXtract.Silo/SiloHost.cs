using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using FineXtract.Grains;
using FineXtract.Sampling;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using Orleans.Configuration;
using Orleans.Dashboard;
using StackExchange.Redis;

namespace FineXtract.Silo;

/// <summary>
/// Builds a FineXtract silo: an ASP.NET Core host with Orleans (Redis clustering and grain storage, or the embedded
/// single-process mode), <c>/metrics</c> (OpenTelemetry, Prometheus format), <c>/healthz</c>, the Orleans dashboard
/// under <c>/dashboard</c> and the campaign API under <c>/api</c>.
/// </summary>
public static class SiloHost
{
    public static readonly string[] Meters = ["Microsoft.Orleans", SamplerMetrics.MeterName, CampaignMetrics.MeterName];

    public static WebApplication Build(SiloSettings settings)
    {
        if (settings.HttpPort is null) throw new ArgumentException("a web silo needs an HTTP port", nameof(settings));
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Any, settings.HttpPort.Value));
        ConfigureLogging(builder.Logging);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(120));
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.CamelCase;
            o.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower));
        });
        builder.UseOrleans(silo =>
        {
            ConfigureOrleans(silo, settings);
            silo.AddDashboard(o =>
            {
                o.HideTrace = true;
                o.CounterUpdateIntervalMs = 2000;
            });
        });
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("finextract-silo", serviceInstanceId: SiloName(settings)))
            .WithMetrics(m => m.AddMeter(Meters).AddRuntimeInstrumentation().AddAspNetCoreInstrumentation().AddPrometheusExporter());
        builder.Services.AddSingleton(new ApiKey(settings.ApiKey));
        builder.Services.AddSingleton(settings);

        var app = builder.Build();
        app.MapPrometheusScrapingEndpoint("/metrics");
        HealthEndpoints.Map(app);
        CampaignApi.Map(app);
        app.MapOrleansDashboard("/dashboard");
        return app;
    }

    /// <summary>The embedded silo (no HTTP): what `finextract extract` runs its checkpoint through.</summary>
    public static IHost BuildEmbedded(SiloSettings settings)
    {
        var builder = Host.CreateApplicationBuilder();
        ConfigureLogging(builder.Logging);
        builder.UseOrleans(silo => ConfigureOrleans(silo, settings));
        return builder.Build();
    }

    public static void ConfigureOrleans(ISiloBuilder silo, SiloSettings settings)
    {
        silo.Configure<ClusterOptions>(o =>
        {
            o.ServiceId = settings.ServiceId;
            o.ClusterId = settings.ClusterId;
        });
        silo.Configure<SiloOptions>(o => o.SiloName = SiloName(settings));
        if (settings.Embedded)
        {
            silo.UseLocalhostClustering(settings.SiloPort, settings.GatewayPort, null, settings.ServiceId, settings.ClusterId);
        }
        else
        {
            var redis = ConfigurationOptions.Parse(settings.Redis!);
            redis.AbortOnConnectFail = false;
            silo.UseRedisClustering(o => o.ConfigurationOptions = redis.Clone());
            silo.ConfigureEndpoints(Advertised(settings), settings.SiloPort, settings.GatewayPort, listenOnAnyHostAddress: true);
        }
        silo.AddFineXtract(settings);
    }

    private static IPAddress Advertised(SiloSettings settings) =>
        settings.Advertise is { } a ? IPAddress.Parse(a)
        : Environment.GetEnvironmentVariable("POD_IP") is { Length: > 0 } pod ? IPAddress.Parse(pod)
        : IPAddress.Loopback;

    public static string SiloName(SiloSettings settings) => settings.Name ?? $"{Environment.MachineName}-{settings.SiloPort}";

    private static void ConfigureLogging(ILoggingBuilder logging)
    {
        logging.SetMinimumLevel(LogLevel.Warning);
        logging.AddFilter("FineXtract", LogLevel.Information);
        if (Environment.GetEnvironmentVariable("FINEXTRACT_LOG") is { } level && Enum.TryParse<LogLevel>(level, true, out var l))
            logging.SetMinimumLevel(l);
    }

    /// <summary>A TCP port nothing listens on right now (for embedded silos and tests).</summary>
    public static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
