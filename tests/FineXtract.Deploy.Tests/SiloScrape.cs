using System.Net.Http.Json;
using System.Text.Json;
using FineXtract.Silo;

namespace FineXtract.Deploy.Tests;

/// <summary>
/// A web silo (embedded mode, stand-in sampler with one slot) that has run a tiny campaign, so the counters and
/// histograms the dashboard reads have samples; <see cref="Metrics"/> is its /metrics scrape afterwards.
/// </summary>
public sealed class SiloScrape : IAsyncLifetime
{
    private readonly string _artifacts = Directory.CreateTempSubdirectory("fx-deploy-").FullName;
    private Microsoft.AspNetCore.Builder.WebApplication _app = null!;

    public HttpClient Http { get; private set; } = null!;
    public string Metrics { get; private set; } = "";
    public JsonElement Campaign { get; private set; }

    public async Task InitializeAsync()
    {
        int port = SiloHost.FreePort();
        _app = SiloHost.Build(new SiloSettings
        {
            HttpPort = port,
            SiloPort = SiloHost.FreePort(),
            GatewayPort = SiloHost.FreePort(),
            Artifacts = _artifacts,
            ApiKey = "deploy-test",
            ClusterId = $"deploy-{Guid.NewGuid():N}",
            SleepSampler = TimeSpan.FromMilliseconds(20),
            PollInterval = TimeSpan.FromMilliseconds(200),
            SamplerSlots = 1,
        });
        await _app.StartAsync();
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        Http.DefaultRequestHeaders.Add("X-Api-Key", "deploy-test");

        // Four checkpoints audited at once on one sampler slot: batches queue. References make extraction hits possible,
        // a missing file gives a failed checkpoint, early stop saves evaluations.
        string references = Directory.CreateDirectory(Path.Combine(_artifacts, "references")).FullName;
        byte[] png = Convert.FromBase64String("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==");
        for (int i = 0; i < 6; i++) await File.WriteAllBytesAsync(Path.Combine(references, $"ref{i}.png"), png);
        for (int i = 0; i < 4; i++) await File.WriteAllBytesAsync(Path.Combine(_artifacts, $"k{i}.safetensors"), [0]);
        var body = new
        {
            id = "deploy-metrics",
            checkpoints = Enumerable.Range(0, 4)
                .Select(i => new { id = $"k{i}", @base = _artifacts, lora = Path.Combine(_artifacts, $"k{i}.safetensors"), prompt = "x", reference = references })
                .Append(new { id = "gone", @base = "/nonexistent", lora = "/nonexistent/l.safetensors", prompt = "x", reference = references }),
            parameters = new
            {
                parallel = 5,
                extraction = new { images = 12, batch = 3, steps = 2, expected = 2, selection = "exact-n", earlyStop = true, earlyStopPatience = 1 },
            },
        };
        var created = await Http.PostAsJsonAsync("/api/campaigns", body);
        if (!created.IsSuccessStatusCode) throw new InvalidOperationException($"submit: {created.StatusCode} {await created.Content.ReadAsStringAsync()}");
        for (int i = 0; i < 600; i++)
        {
            Campaign = await Http.GetFromJsonAsync<JsonElement>("/api/campaigns/deploy-metrics");
            if (Campaign.TryGetProperty("finishedAt", out var f) && f.ValueKind != JsonValueKind.Null) break;
            await Task.Delay(100);
        }
        Metrics = await Http.GetStringAsync("/metrics");
    }

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Directory.Delete(_artifacts, true);
    }

    /// <summary>Names of the samples in the scrape (the text before '{' or ' ' on every non-comment line).</summary>
    public HashSet<string> SampleNames() =>
    [
        .. Metrics.Split('\n').Where(l => l.Length > 0 && !l.StartsWith('#')).Select(l => l[..l.IndexOfAny(['{', ' '])]),
    ];
}
