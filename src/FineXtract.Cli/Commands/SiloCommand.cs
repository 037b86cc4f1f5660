using System.CommandLine;
using FineXtract.Silo;

namespace FineXtract.Cli.Commands;

/// <summary>
/// <c>finextract silo</c>: runs a silo of the extraction cluster (what the Docker image runs). With <c>--redis</c> it
/// joins the cluster registered in Redis and keeps grain state there; without, it is an embedded single-process
/// silo with in-memory state. Ports are options so several silos can share a machine.
/// </summary>
public static class SiloCommand
{
    public static Command Create()
    {
        var redis = new Option<string?>("--redis") { Description = "Redis connection string (e.g. localhost:6379); none: embedded single-process silo, in-memory state" };
        var role = new Option<string>("--role") { DefaultValueFactory = _ => "all", Description = "control (campaigns, audits, clustering) | sampler (GPU work) | all" };
        role.AcceptOnlyFromAmong("control", "sampler", "all");
        var siloPort = new Option<int>("--silo-port") { DefaultValueFactory = _ => 11111, Description = "Silo-to-silo port" };
        var gatewayPort = new Option<int>("--gateway-port") { DefaultValueFactory = _ => 30000, Description = "Client gateway port" };
        // The image's HEALTHCHECK reads the same variable, so the two agree when the port moves.
        var httpPort = new Option<int>("--http-port")
        {
            DefaultValueFactory = _ => int.TryParse(Environment.GetEnvironmentVariable("FINEXTRACT_HTTP_PORT"), out int port) ? port : 8080,
            Description = "HTTP port: /metrics, /healthz, /dashboard, /api (default: $FINEXTRACT_HTTP_PORT, else 8080)",
        };
        var artifacts = new Option<string>("--artifacts") { DefaultValueFactory = _ => Path.Combine(Path.GetTempPath(), "finextract-artifacts"), Description = "Artifact root shared by all silos (images, evidence, download cache)" };
        var apiKey = new Option<string?>("--api-key") { Description = "Key the campaign API requires (default: $FINEXTRACT_API_KEY; none: the API refuses every call)" };
        var clusterId = new Option<string>("--cluster-id") { DefaultValueFactory = _ => "finextract", Description = "Orleans cluster id (one deployment)" };
        var serviceId = new Option<string>("--service-id") { DefaultValueFactory = _ => "finextract", Description = "Orleans service id (stable across deployments: keys grain state)" };
        var slots = new Option<int>("--sampler-slots") { DefaultValueFactory = _ => 1, Description = "Seed batches this silo runs at once (1 per GPU)" };
        var advertise = new Option<string?>("--advertise") { Description = "IP other silos reach this one at (default: $POD_IP, else 127.0.0.1)" };
        var name = new Option<string?>("--name") { Description = "Silo name (default: host-siloport)" };
        var sleep = new Option<int?>("--sleep-sampler-ms") { Description = "Benchmarks only: samplers sleep this long per batch instead of running models", Hidden = true };
        var poll = new Option<int?>("--poll-ms") { Description = "How often campaigns poll their audits", Hidden = true };
        var fast = new Option<bool>("--fast-failure-detection") { Description = "Declare dead silos within seconds (tests, one-machine clusters)", Hidden = true };
        var command = new Command("silo", "Run a silo of the extraction cluster (Orleans + /metrics, /healthz, dashboard, campaign API)")
        {
            redis, role, siloPort, gatewayPort, httpPort, artifacts, apiKey, clusterId, serviceId, slots, advertise, name, sleep, poll, fast,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var settings = new SiloSettings
            {
                Redis = parse.GetValue(redis),
                Role = Enum.Parse<SiloRole>(parse.GetValue(role)!, ignoreCase: true),
                SiloPort = parse.GetValue(siloPort),
                GatewayPort = parse.GetValue(gatewayPort),
                HttpPort = parse.GetValue(httpPort),
                Artifacts = Path.GetFullPath(parse.GetValue(artifacts)!),
                ApiKey = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("FINEXTRACT_API_KEY"),
                ClusterId = parse.GetValue(clusterId)!,
                ServiceId = parse.GetValue(serviceId)!,
                SamplerSlots = parse.GetValue(slots),
                Advertise = parse.GetValue(advertise),
                Name = parse.GetValue(name),
                SleepSampler = parse.GetValue(sleep) is { } ms ? TimeSpan.FromMilliseconds(ms) : null,
                PollInterval = parse.GetValue(poll) is { } p ? TimeSpan.FromMilliseconds(p) : null,
                FastFailureDetection = parse.GetValue(fast),
            };
            if (settings.SamplerSlots < 1) throw new FineXtractException("--sampler-slots must be at least 1");
            Directory.CreateDirectory(settings.Artifacts);
            var app = SiloHost.Build(settings);
            await app.StartAsync(cancel);
            var o = parse.InvocationConfiguration.Output;
            o.WriteLine($"silo {SiloHost.SiloName(settings)} ({settings.Role.ToString().ToLowerInvariant()}) up: silo port {settings.SiloPort}, gateway {settings.GatewayPort}, " +
                $"http {settings.HttpPort}, {(settings.Embedded ? "embedded (in-memory state)" : "redis " + settings.Redis)}, artifacts {settings.Artifacts}");
            o.Flush();
            try
            {
                await Task.Delay(Timeout.Infinite, cancel);
            }
            catch (OperationCanceledException)
            {
            }
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
            return 0;
        });
        return command;
    }
}
