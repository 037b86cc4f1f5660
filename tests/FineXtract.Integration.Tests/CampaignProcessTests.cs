using FineXtract.Cli.Campaigns;
using FineXtract.Cli.LocalCluster;
using FineXtract.Extraction.Evidence;
using FineXtract.Grains;
using FineXtract.Tests;
using Xunit.Abstractions;

namespace FineXtract.Integration.Tests;

/// <summary>
/// Real processes: a private redis-server, `finextract silo` processes on their own ports and cluster id, and an Orleans
/// client. Campaigns of tiny models (with broken files and a wrong base) complete; a killed sampler silo and a Redis
/// restart mid-campaign still leave every checkpoint's result present exactly once.
/// </summary>
public sealed class CampaignProcessTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fx-integration-").FullName;
    private readonly List<IDisposable> _cleanup = [];

    private static readonly CampaignParameters Tiny = new()
    {
        Extraction = new ExtractionParameters { Images = 4, Batch = 2, Steps = 2, Expected = 1, Selection = "exact-n" },
        Parallel = 4,
    };

    public void Dispose()
    {
        foreach (var d in Enumerable.Reverse(_cleanup)) d.Dispose();
        try
        {
            Directory.Delete(_dir, true);
        }
        catch (IOException)
        {
        }
    }

    private T Track<T>(T d) where T : IDisposable
    {
        _cleanup.Add(d);
        return d;
    }

    private async Task<SiloProcess[]> StartSilosAsync(RedisServer redis, string clusterId, params string[] roles)
    {
        var silos = roles.Select(r => Track(new SiloProcess(redis.Connection, clusterId, r, Path.Combine(_dir, "artifacts")))).ToArray();
        await Task.WhenAll(silos.Select(s => s.WaitReadyAsync(TimeSpan.FromMinutes(2))));
        return silos;
    }

    /// <summary>16 good checkpoints in every supported form, three broken files and one fine-tune of another base.</summary>
    private List<CheckpointEntry> MixedManifest()
    {
        string p = Fixtures.Parity;
        var entries = new List<CheckpointEntry>();
        string[] loras = [Fixtures.Path_("lora", "kohya_lora.safetensors"), Fixtures.Path_("lora", "kohya_lora_full.safetensors"),
            Fixtures.Path_("lora", "diffusers_lora", "pytorch_lora_weights.safetensors")];
        string[] full = [p, Fixtures.Path_("unet"), Fixtures.Path_("unet", "ldm_unet.safetensors"), Fixtures.Path_("unet", "diffusion_pytorch_model.safetensors")];
        for (int i = 0; i < 9; i++) entries.Add(new($"lora-{i:D2}", p, Lora: loras[i % 3], Prompt: i % 2 == 0 ? "sks dog" : "a photo", LoraScale: 1 + i * 0.1));
        for (int i = 0; i < 7; i++) entries.Add(new($"full-{i:D2}", p, FineTuned: full[i % 4], Prompt: "a photo of a sks dog"));

        string garbage = Path.Combine(_dir, "garbage.safetensors");
        File.WriteAllBytes(garbage, [.. Enumerable.Range(0, 4096).Select(i => (byte)(i * 31))]);
        string truncated = Path.Combine(_dir, "truncated.safetensors");
        var lora = File.ReadAllBytes(loras[0]);
        File.WriteAllBytes(truncated, lora[..(lora.Length / 3)]);
        string otherBase = Path.Combine(_dir, "other-base-unet");
        Directory.CreateDirectory(otherBase);
        File.WriteAllText(Path.Combine(otherBase, "config.json"),
            File.ReadAllText(Fixtures.Path_("unet", "config.json")).Replace("\"cross_attention_dim\": 32", "\"cross_attention_dim\": 64"));
        File.Copy(Fixtures.Path_("unet", "diffusion_pytorch_model.safetensors"), Path.Combine(otherBase, "diffusion_pytorch_model.safetensors"));
        entries.Add(new("broken-garbage", p, Lora: garbage, Prompt: "x"));
        entries.Add(new("broken-truncated", p, Lora: truncated, Prompt: "x"));
        entries.Add(new("broken-missing", p, FineTuned: Path.Combine(_dir, "no-such-model"), Prompt: "x"));
        entries.Add(new("wrong-base", p, FineTuned: otherBase, Prompt: "x"));
        return entries;
    }

    private static async Task<CampaignStatus> WaitAsync(ICampaignGrain campaign, TimeSpan timeout, Func<CampaignStatus, bool>? until = null)
    {
        until ??= s => s.FinishedAt is not null;
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            CampaignStatus? status = null;
            try
            {
                status = await campaign.GetStatus();
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
            }
            if (status is not null && until(status)) return status;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"campaign: {string.Join(", ", status?.Counts.Where(c => c.Value > 0).Select(c => $"{c.Value} {c.Key}") ?? [])}");
            await Task.Delay(250);
        }
    }

    /// <summary>Every checkpoint once, each done one with a complete bundle counted once (no batch twice).</summary>
    private static void AssertExactlyOnce(CampaignReport report, IReadOnlyList<CheckpointEntry> entries, int images, int evaluationsPerImage)
    {
        Assert.Equal(entries.Select(e => e.Id).Order(), report.Checkpoints.Select(c => c.Id).Order());
        foreach (var c in report.Checkpoints.Where(c => c.State == CheckpointState.Done))
        {
            string folder = Path.Combine(report.Status.OutputFolder!, "checkpoints", c.Id);
            var results = ResultsJson.Read(Path.Combine(folder, "results.json"));
            Assert.Equal(images, results.Generated.Count);
            Assert.Equal((long)images * evaluationsPerImage, results.Generated.UNetEvaluations);
            Assert.Equal(images, Directory.GetFiles(Path.Combine(folder, "images"), "*.png").Length);
            Assert.Equal(images, c.ImagesDone);
        }
    }

    [Fact]
    public async Task TwentyCheckpointCampaignOnAControlAndASamplerProcess()
    {
        using var redis = Track(new RedisServer());
        var silos = await StartSilosAsync(redis, "it-mixed", "control", "sampler");
        await using var client = await ClusterConnection.ConnectAsync(redis.Connection, "it-mixed", "finextract", CancellationToken.None);
        var entries = MixedManifest();
        var campaign = client.Client.GetGrain<ICampaignGrain>("it-mixed");
        await campaign.Submit(new CampaignSubmission(entries, Tiny, "integration"));
        var status = await WaitAsync(campaign, TimeSpan.FromMinutes(4));
        var report = (await campaign.GetReport())!;
        foreach (var c in report.Checkpoints) output.WriteLine($"{c.Id}: {c.State} {c.Reason}");

        Assert.Equal(CampaignState.Completed, status.State);
        Assert.Equal(16, status.Count(CheckpointState.Done));
        Assert.Equal(4, status.Count(CheckpointState.Failed));
        string Reason(string id) => report.Checkpoints.Single(c => c.Id == id).Reason ?? "";
        Assert.Contains("no such file", Reason("broken-missing"));
        Assert.Contains("different base", Reason("wrong-base"));
        Assert.Contains("garbage.safetensors", Reason("broken-garbage"));
        Assert.Contains("truncated.safetensors", Reason("broken-truncated"));
        AssertExactlyOnce(report, entries, 4, 2 * 2);

        // The control silo rendered nothing: every image came from the sampler process.
        string controlMetrics = await silos[0].MetricsAsync(), samplerMetrics = await silos[1].MetricsAsync();
        Assert.DoesNotContain("finextract_sampler_images_total", controlMetrics);
        Assert.Contains("finextract_sampler_images_total", samplerMetrics);
        Assert.Contains("finextract_checkpoints_done_total", controlMetrics);

        // The client verb writes the per-checkpoint evidence and the index page.
        var (code, stdout, stderr) = await Cli.RunAsync("campaign", "report", "it-mixed", "--out", Path.Combine(_dir, "report"),
            "--cluster", redis.Connection, "--cluster-id", "it-mixed");
        Assert.True(code == 0, stderr + stdout);
        Assert.True(File.Exists(Path.Combine(_dir, "report", "index.html")));
        Assert.Equal(16, Directory.GetFiles(Path.Combine(_dir, "report"), "results.json", SearchOption.AllDirectories).Length);
    }

    [Fact]
    public async Task KillingASamplerSiloMidCampaignStillFinishesEveryCheckpointOnce()
    {
        using var redis = Track(new RedisServer());
        var silos = await StartSilosAsync(redis, "it-kill", "all", "sampler");
        await using var client = await ClusterConnection.ConnectAsync(redis.Connection, "it-kill", "finextract", CancellationToken.None);
        var entries = Enumerable.Range(0, 8).Select(i => new CheckpointEntry($"k{i}", Fixtures.Parity,
            Lora: Fixtures.Path_("lora", "kohya_lora.safetensors"), Prompt: "sks dog", LoraScale: 1 + i * 0.1)).ToList();
        var parameters = Tiny with { Extraction = Tiny.Extraction with { Images = 8 } };
        var campaign = client.Client.GetGrain<ICampaignGrain>("it-kill");
        await campaign.Submit(new CampaignSubmission(entries, parameters));
        await WaitAsync(campaign, TimeSpan.FromMinutes(2), s => s.ImagesGenerated >= 6 || s.FinishedAt is not null);
        silos[1].Kill();
        output.WriteLine("sampler silo killed");
        var status = await WaitAsync(campaign, TimeSpan.FromMinutes(4));
        Assert.Equal(CampaignState.Completed, status.State);
        Assert.Equal(8, status.Count(CheckpointState.Done));
        AssertExactlyOnce((await campaign.GetReport())!, entries, 8, 2 * 2);
    }

    [Fact]
    public async Task RestartingRedisMidCampaignLosesNothingAndStateOutlivesTheSilos()
    {
        using var redis = Track(new RedisServer());
        var silos = await StartSilosAsync(redis, "it-redis", "all", "all");
        var entries = Enumerable.Range(0, 8).Select(i => new CheckpointEntry($"r{i}", Fixtures.Parity,
            FineTuned: Fixtures.Parity, Prompt: "a photo", LoraScale: 1)).ToList();
        var parameters = Tiny with { Extraction = Tiny.Extraction with { Images = 8 }, Parallel = 2 };
        await using (var client = await ClusterConnection.ConnectAsync(redis.Connection, "it-redis", "finextract", CancellationToken.None))
        {
            var campaign = client.Client.GetGrain<ICampaignGrain>("it-redis");
            await campaign.Submit(new CampaignSubmission(entries, parameters));
            await WaitAsync(campaign, TimeSpan.FromMinutes(2), s => s.Count(CheckpointState.Done) >= 1);
            redis.Restart(TimeSpan.FromSeconds(3));
            output.WriteLine("redis restarted");
            var status = await WaitAsync(campaign, TimeSpan.FromMinutes(4));
            var report = (await campaign.GetReport())!;
            Assert.Equal(CampaignState.Completed, status.State);
            Assert.True(status.Count(CheckpointState.Done) == 8, string.Join("; ", report.Checkpoints.Select(c => $"{c.Id} {c.State} {c.Reason}")));
            AssertExactlyOnce(report, entries, 8, 2 * 2);
        }

        // Every silo gone; a new one reads the campaign back from Redis.
        foreach (var s in silos) s.Kill();
        await StartSilosAsync(redis, "it-redis", "control");
        await using (var client = await ClusterConnection.ConnectAsync(redis.Connection, "it-redis", "finextract", CancellationToken.None))
        {
            var status = (await client.Client.GetGrain<ICampaignGrain>("it-redis").GetStatus())!;
            Assert.Equal(CampaignState.Completed, status.State);
            Assert.Equal(8, status.Count(CheckpointState.Done));
        }
    }
}

/// <summary>Runs the real CLI in-process.</summary>
internal static class Cli
{
    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var root = new System.CommandLine.RootCommand("finextract");
        foreach (var c in FineXtract.Cli.Commands.CommandCatalog.All()) root.Subcommands.Add(c);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await FineXtract.Cli.CliRunner.RunAsync(root, args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
