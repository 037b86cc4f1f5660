using FineXtract.Extraction.Evidence;

namespace FineXtract.Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class CampaignGrainTests(ClusterFixture fx)
{
    [Fact]
    public async Task CampaignFinishesGoodCheckpointsFailsBrokenOnesAndFindsSharedImages()
    {
        using var server = new LocalFileServer();
        string lora = Fixtures.Path_("lora", "kohya_lora.safetensors");
        string loraSha = InputHashing.Sha256(lora);
        string remote = server.Serve("kohya_lora.safetensors", lora);
        var entries = new List<CheckpointEntry>
        {
            new("lora-a", Fixtures.Parity, Lora: lora, Prompt: "sks dog"),
            new("lora-b", Fixtures.Parity, Lora: lora, Prompt: "sks dog"),             // same LoRA: same images, shared
            new("lora-http", Fixtures.Parity, Lora: remote, Prompt: "sks dog", Sha256: loraSha),
            new("lora-http-again", Fixtures.Parity, Lora: remote, Prompt: "sks dog"), // served from the cache
            new("http-404", Fixtures.Parity, Lora: $"http://127.0.0.1:{server.Port}/missing.safetensors", Prompt: "x"),
            new("missing", Fixtures.Parity, FineTuned: "/nonexistent/model", Prompt: "x"),
        };
        var parameters = new CampaignParameters
        {
            Extraction = new ExtractionParameters { Images = 4, Batch = 4, Steps = 2, Expected = 1, Selection = "exact-n" },
            Parallel = 3,
            ShareThreshold = 0.999,
        };
        var campaign = fx.Client.GetGrain<ICampaignGrain>("campaign-mixed");
        var submitted = await campaign.Submit(new CampaignSubmission(entries, parameters, "mixed"));
        Assert.Equal(6, submitted.Total);
        var again = await campaign.Submit(new CampaignSubmission(entries, parameters, "mixed"));
        Assert.Equal(6, again.Total);

        var status = await fx.WaitAsync(campaign, TimeSpan.FromMinutes(3));
        Assert.Equal(CampaignState.Completed, status.State);
        Assert.Equal(4, status.Count(CheckpointState.Done));
        Assert.Equal(2, status.Count(CheckpointState.Failed));

        var report = (await campaign.GetReport())!;
        Assert.Equal(entries.Select(e => e.Id).Order(), report.Checkpoints.Select(c => c.Id).Order()); // each exactly once
        Assert.Contains("HTTP 404", report.Checkpoints.Single(c => c.Id == "http-404").Reason);
        Assert.Contains("no such file", report.Checkpoints.Single(c => c.Id == "missing").Reason);
        Assert.Equal(1, server.Requests["/kohya_lora.safetensors"]); // fetched once, then the content-addressed cache
        // The four identical LoRAs extracted the same image: every pair of them is reported.
        Assert.Equal(6, report.Shared.Count);
        Assert.All(report.Shared, s => Assert.True(s.Similarity >= 0.999));

        // A late or repeated report of a finished checkpoint changes nothing.
        await campaign.OnCheckpointFinished("lora-a", new AuditStatus { State = CheckpointState.Failed, Reason = "late duplicate" });
        var after = (await campaign.GetStatus())!;
        Assert.Equal(4, after.Count(CheckpointState.Done));
        var bytes = await campaign.ReadEvidenceFile("lora-a", "results.json");
        Assert.NotNull(bytes);
        Assert.Null(await campaign.ReadEvidenceFile("lora-a", "../../../../etc/passwd"));
        Assert.True(File.Exists(Path.Combine(status.OutputFolder!, "summary.json")));
    }

    [Fact]
    public async Task CancelStopsQueuedAndRunningCheckpoints()
    {
        var entries = Enumerable.Range(0, 4).Select(i => new CheckpointEntry($"c{i}", Fixtures.Parity, FineTuned: Fixtures.Parity, Prompt: "a photo")).ToList();
        var parameters = new CampaignParameters { Extraction = new ExtractionParameters { Images = 400, Batch = 2, Steps = 2, Expected = 1 }, Parallel = 1 };
        var campaign = fx.Client.GetGrain<ICampaignGrain>("campaign-cancel");
        await campaign.Submit(new CampaignSubmission(entries, parameters));
        var deadline = DateTime.UtcNow.AddMinutes(1);
        while ((await campaign.GetCheckpoints(0, 1))[0].ImagesDone < 2 && DateTime.UtcNow < deadline) await Task.Delay(100);
        await campaign.Cancel();
        var status = await fx.WaitAsync(campaign, TimeSpan.FromMinutes(1));
        Assert.Equal(CampaignState.Cancelled, status.State);
        Assert.Equal(4, status.Count(CheckpointState.Cancelled));
        var first = ResultsJson.Read(Path.Combine(status.OutputFolder!, "checkpoints", "c0", "results.json"));
        Assert.Equal("cancelled", first.Status); // partial evidence over the images generated before the stop
        Assert.InRange(first.Generated.Count, 2, 398);
    }
}
