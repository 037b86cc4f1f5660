using System.Diagnostics;
using FineXtract.Cli.Campaigns;
using FineXtract.Cli.LocalCluster;
using FineXtract.Grains;
using StackExchange.Redis;

namespace FineXtract.Cli.Benchmarks;

/// <summary>
/// `finextract bench campaign`: the orchestration at archive scale. Starts a private redis-server (unless --redis is
/// given) and N silo processes whose samplers only sleep, submits a manifest of many checkpoints and reports the
/// time to schedule and to finish, Redis memory, activations and the orchestration cost per checkpoint.
/// </summary>
public sealed record CampaignBenchOptions(int Checkpoints, int Silos, int SleepMs, int Images, int Batch, int Slots, int Parallel, string? Redis,
    string? Artifacts);

public static class CampaignBench
{
    public static async Task RunAsync(CampaignBenchOptions o, TextWriter output, CancellationToken cancel)
    {
        string root = o.Artifacts ?? Directory.CreateTempSubdirectory("fx-bench-").FullName;
        using var redis = o.Redis is null ? new RedisServer() : null;
        string connection = o.Redis ?? redis!.Connection;
        string clusterId = $"bench-{DateTime.UtcNow:HHmmss}";
        var silos = new List<SiloProcess>();
        try
        {
            var started = Stopwatch.StartNew();
            for (int i = 0; i < o.Silos; i++)
                silos.Add(new SiloProcess(SiloProcess.FinextractDll, connection, clusterId, "all", Path.Combine(root, "artifacts"), "--sleep-sampler-ms", o.SleepMs.ToString(),
                    "--sampler-slots", o.Slots.ToString()));
            await Task.WhenAll(silos.Select(s => s.WaitReadyAsync(TimeSpan.FromMinutes(3))));
            output.WriteLine($"{o.Silos} silos up in {started.Elapsed.TotalSeconds:F1} s (redis {connection}, cluster {clusterId})");

            // Every entry names the same placeholder files: the stand-in sampler loads nothing.
            string models = Path.Combine(root, "models");
            Directory.CreateDirectory(models);
            string lora = Path.Combine(models, "placeholder.safetensors");
            await File.WriteAllBytesAsync(lora, [0], cancel);
            var entries = Enumerable.Range(0, o.Checkpoints).Select(i => new CheckpointEntry($"ckpt-{i:D6}", models, Lora: lora, Prompt: "bench")).ToList();
            var parameters = new CampaignParameters
            {
                Extraction = new ExtractionParameters { Images = o.Images, Batch = o.Batch, Steps = 1, Expected = 1, Selection = "exact-n" },
                Parallel = o.Parallel,
            };

            await using var client = await ClusterConnection.ConnectAsync(connection, clusterId, "finextract", cancel);
            var campaign = client.Client.GetGrain<ICampaignGrain>("bench");
            var timer = Stopwatch.StartNew();
            var status = await campaign.Submit(new CampaignSubmission(entries, parameters, "bench"));
            double submitted = timer.Elapsed.TotalSeconds;
            double? scheduled = null;
            int peakActivations = 0;
            var management = client.Client.GetGrain<IManagementGrain>(0);
            double lastReport = 0;
            while (status.FinishedAt is null)
            {
                await Task.Delay(1000, cancel);
                status = (await campaign.GetStatus())!;
                if (scheduled is null && status.Count(CheckpointState.Queued) == 0) scheduled = timer.Elapsed.TotalSeconds;
                peakActivations = Math.Max(peakActivations, await management.GetTotalActivationCount());
                if (timer.Elapsed.TotalSeconds - lastReport >= 10)
                {
                    lastReport = timer.Elapsed.TotalSeconds;
                    output.WriteLine($"  {timer.Elapsed.TotalSeconds,6:F0} s: {status.Count(CheckpointState.Done) + status.Count(CheckpointState.Failed)}/{status.Total} finished");
                }
            }
            double finished = timer.Elapsed.TotalSeconds;
            var checkpoints = await campaign.GetCheckpoints(0, int.MaxValue);
            var stats = await management.GetSimpleGrainStatistics();
            var byType = stats.GroupBy(s => s.GrainType.Split(',')[0].Split('.').Last()).Select(g => (Type: g.Key, Count: g.Sum(s => s.ActivationCount)))
                .OrderByDescending(t => t.Count).Take(6).ToList();
            double cpu = silos.Sum(s => s.CpuSeconds());
            var (memory, keys) = await RedisFiguresAsync(connection);

            int batchesPerCheckpoint = (o.Images + o.Batch - 1) / o.Batch;
            double ideal = (double)o.Checkpoints * batchesPerCheckpoint * o.SleepMs / 1000 / Math.Min(o.Parallel, o.Silos * o.Slots);
            double latency = checkpoints.Average(c => c.Seconds);
            output.WriteLine();
            output.WriteLine($"checkpoints            {o.Checkpoints} ({status.Count(CheckpointState.Done)} done, {status.Count(CheckpointState.Failed)} failed), " +
                $"{batchesPerCheckpoint} batch(es) of {o.Batch} images each, stand-in sampler sleeps {o.SleepMs} ms per batch");
            output.WriteLine($"silos                  {o.Silos} (role all), {o.Slots} sampler slots each, campaign parallelism {o.Parallel}");
            output.WriteLine($"submit                 {submitted:F2} s (manifest in one grain call)");
            output.WriteLine($"scheduled              {scheduled ?? finished:F1} s (no checkpoint left queued)");
            output.WriteLine($"finished               {finished:F1} s = {o.Checkpoints / finished:F1} checkpoints/s (sampler-bound ideal {ideal:F1} s)");
            output.WriteLine($"per checkpoint         {finished / o.Checkpoints * 1000:F1} ms wall, {cpu / o.Checkpoints * 1000:F1} ms silo CPU " +
                $"(both silos, all grains, evidence writing), audit latency {latency * 1000:F0} ms mean of which {batchesPerCheckpoint * o.SleepMs} ms sampling");
            output.WriteLine($"orchestration overhead {(finished - ideal) / o.Checkpoints * 1000:F1} ms per checkpoint (wall above the sampler-bound ideal)");
            output.WriteLine($"redis                  {memory} used, {keys} keys");
            output.WriteLine($"activations            peak {peakActivations}, end {stats.Sum(s => s.ActivationCount)}: {string.Join(", ", byType.Select(t => $"{t.Type} {t.Count}"))}");
        }
        finally
        {
            foreach (var s in silos) s.Dispose();
            if (o.Artifacts is null)
            {
                try
                {
                    Directory.Delete(root, true);
                }
                catch (IOException)
                {
                }
            }
        }
    }

    private static async Task<(string Memory, long Keys)> RedisFiguresAsync(string connection)
    {
        var options = ConfigurationOptions.Parse(connection);
        options.AllowAdmin = true;
        await using var mux = await ConnectionMultiplexer.ConnectAsync(options);
        var server = mux.GetServer(mux.GetEndPoints()[0]);
        var info = (await server.InfoAsync("memory")).SelectMany(g => g).ToDictionary(p => p.Key, p => p.Value);
        return (info.GetValueOrDefault("used_memory_human", "?"), await server.DatabaseSizeAsync());
    }
}
