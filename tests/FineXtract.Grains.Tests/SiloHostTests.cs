using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FineXtract.Silo;

namespace FineXtract.Grains.Tests;

/// <summary>The web silo (embedded mode, stand-in sampler): health, API key rules, campaign API, /metrics names, dashboard.</summary>
public sealed class SiloHostTests : IAsyncLifetime
{
    private readonly string _artifacts = Directory.CreateTempSubdirectory("fx-host-").FullName;
    private Microsoft.AspNetCore.Builder.WebApplication _app = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        int port = SiloHost.FreePort();
        _app = SiloHost.Build(new SiloSettings
        {
            HttpPort = port,
            SiloPort = SiloHost.FreePort(),
            GatewayPort = SiloHost.FreePort(),
            Artifacts = _artifacts,
            ApiKey = "s3cret",
            ClusterId = $"host-{Guid.NewGuid():N}",
            SleepSampler = TimeSpan.FromMilliseconds(20),
            PollInterval = TimeSpan.FromMilliseconds(200),
        });
        await _app.StartAsync();
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Directory.Delete(_artifacts, true);
    }

    [Fact]
    public async Task HealthMetricsDashboardAndTheKeyedCampaignApi()
    {
        Assert.Equal("ok", await _http.GetStringAsync("/healthz"));
        Assert.Equal("ready", await _http.GetStringAsync("/healthz/ready"));
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("/dashboard/")).StatusCode);

        var body = new
        {
            id = "api-campaign",
            checkpoints = Enumerable.Range(0, 3).Select(i => new { id = $"k{i}", @base = _artifacts, lora = Path.Combine(_artifacts, $"k{i}.safetensors"), prompt = "x" })
                .Append(new { id = "gone", @base = "/nonexistent", lora = "/nonexistent/l.safetensors", prompt = "x" }),
            parameters = new { extraction = new { images = 12, batch = 3, steps = 2, expected = 1, selection = "exact-n", earlyStop = true, earlyStopPatience = 1 } },
        };
        foreach (var i in Enumerable.Range(0, 3)) await File.WriteAllBytesAsync(Path.Combine(_artifacts, $"k{i}.safetensors"), [0]);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _http.PostAsJsonAsync("/api/campaigns", body)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _http.GetAsync("/api/campaigns/api-campaign")).StatusCode);
        _http.DefaultRequestHeaders.Add("X-Api-Key", "s3cret");
        var created = await _http.PostAsJsonAsync("/api/campaigns", body);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);

        JsonElement status = default;
        for (int i = 0; i < 300; i++)
        {
            status = await _http.GetFromJsonAsync<JsonElement>("/api/campaigns/api-campaign");
            if (status.TryGetProperty("finishedAt", out var f) && f.ValueKind != JsonValueKind.Null) break;
            await Task.Delay(100);
        }
        Assert.Equal("completed", status.GetProperty("state").GetString());
        string checkpoints = await _http.GetStringAsync("/api/campaigns/api-campaign/checkpoints");
        Assert.True(status.GetProperty("counts").GetProperty("done").GetInt32() == 3, checkpoints);
        Assert.Equal(1, status.GetProperty("counts").GetProperty("failed").GetInt32());
        // Stand-in embeddings never repeat an image, so exact-n with N=1 settles after one unchanged batch: early stop.
        Assert.True(status.GetProperty("evaluationsSavedByEarlyStop").GetInt64() > 0);

        string metrics = await _http.GetStringAsync("/metrics");
        foreach (var name in new[]
        {
            "finextract_sampler_images_total", "finextract_sampler_unet_evaluations_total", "finextract_sampler_batches_in_flight",
            "finextract_sampler_batch_duration_seconds_bucket", "finextract_sampler_unet_evaluations_per_second", "finextract_checkpoints_done_total",
            "finextract_checkpoints_failed_total", "finextract_early_stop_evaluations_saved_total", "orleans_catalog_activations",
            "orleans_app_requests_latency_milliseconds_bucket",
        })
            Assert.Contains(name, metrics);
    }

    [Fact]
    public async Task WithoutAKeyTheApiRefusesEverything()
    {
        int port = SiloHost.FreePort();
        var app = SiloHost.Build(new SiloSettings
        {
            HttpPort = port, SiloPort = SiloHost.FreePort(), GatewayPort = SiloHost.FreePort(), Artifacts = _artifacts,
            ClusterId = $"nokey-{Guid.NewGuid():N}", SleepSampler = TimeSpan.Zero,
        });
        await app.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            http.DefaultRequestHeaders.Add("X-Api-Key", "anything");
            var response = await http.PostAsJsonAsync("/api/campaigns", new { checkpoints = Array.Empty<object>() });
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
