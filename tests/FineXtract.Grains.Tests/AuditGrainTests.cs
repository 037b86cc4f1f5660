using FineXtract.Extraction.Evidence;
using FineXtract.Silo;

namespace FineXtract.Grains.Tests;

/// <summary>One checkpoint through the grains: control silo orchestrates, sampler silos render with the tiny models.</summary>
[Collection(ClusterCollection.Name)]
public sealed class AuditGrainTests(ClusterFixture fx)
{
    private static readonly ExtractionParameters Small = new() { Images = 8, Batch = 4, Steps = 3, Expected = 2, Selection = "exact-n" };

    [Fact]
    public async Task LoraAuditWritesTheEvidenceBundle()
    {
        var entry = new CheckpointEntry("lora", Fixtures.Parity, Lora: Fixtures.Path_("lora", "kohya_lora.safetensors"), Prompt: "sks dog",
            Reference: Path.Combine(Fixtures.Data, "dreambooth", "dog"));
        var spec = fx.Spec("lora-audit", entry, Small);
        var audit = fx.Client.GetGrain<ICheckpointAuditGrain>("t/lora-audit");
        await audit.Start(spec);
        var again = await audit.Start(spec); // idempotent: the same audit, not a second one
        Assert.NotEqual(CheckpointState.Failed, again.State);
        var status = await fx.WaitAsync(audit, TimeSpan.FromMinutes(2));
        Assert.True(status.State == CheckpointState.Done, status.Reason);
        Assert.Equal(8, status.ImagesDone);
        Assert.Equal(8 * 3 * 2, status.UNetEvaluations);
        Assert.Equal(2, status.Extracted);

        var results = ResultsJson.Read(Path.Combine(spec.OutputFolder, "results.json"));
        Assert.Equal("completed", results.Status);
        Assert.Equal(8, results.Generated.Count);
        Assert.Equal(2, results.Extracted.Count);
        Assert.NotNull(results.Metrics);
        Assert.Equal(5, results.Metrics!.PerImage.Count);
        Assert.Equal(8, Directory.GetFiles(Path.Combine(spec.OutputFolder, "images"), "*.png").Length);
        Assert.True(File.Exists(Path.Combine(spec.OutputFolder, "report.html")));
        for (int i = 0; i < 50 && Directory.Exists(spec.WorkFolder); i++) await Task.Delay(100);
        Assert.False(Directory.Exists(spec.WorkFolder)); // batch records are cleaned up once the bundle exists
    }

    [Fact]
    public async Task SamplersNeverActivateOnControlSilos()
    {
        var silos = fx.Cluster.Silos.ToDictionary(s => s.SiloAddress.ToString(), s => ClusterFixture.RoleOf(s.Name));
        for (int i = 0; i < 12; i++)
        {
            string where = await fx.Client.GetGrain<ISamplerGrain>($"placement-probe-{i}").Where();
            Assert.Equal(SiloRole.Sampler, silos[where]);
        }
    }

    [Fact]
    public async Task BrokenFilesFailWithAClearReason()
    {
        string broken = Path.Combine(fx.Artifacts, "broken.safetensors");
        Directory.CreateDirectory(fx.Artifacts);
        await File.WriteAllBytesAsync(broken, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        var cases = new (string Id, CheckpointEntry Entry, string Expected)[]
        {
            ("missing", new CheckpointEntry("missing", Fixtures.Parity, Lora: "/nonexistent/x.safetensors", Prompt: "p"), "no such file"),
            ("broken", new CheckpointEntry("broken", Fixtures.Parity, Lora: broken, Prompt: "p"), "broken.safetensors"),
            ("hash", new CheckpointEntry("hash", Fixtures.Parity, Lora: Fixtures.Path_("lora", "kohya_lora.safetensors"), Prompt: "p",
                Sha256: new string('0', 64)), "SHA-256 mismatch"),
            ("both", new CheckpointEntry("both", Fixtures.Parity, FineTuned: Fixtures.Parity, Lora: broken, Prompt: "p"), "exactly one"),
        };
        foreach (var (id, entry, expected) in cases)
        {
            var audit = fx.Client.GetGrain<ICheckpointAuditGrain>($"t/fail-{id}");
            await audit.Start(fx.Spec($"fail-{id}", entry, Small));
            var status = await fx.WaitAsync(audit, TimeSpan.FromMinutes(1));
            Assert.Equal(CheckpointState.Failed, status.State);
            Assert.Contains(expected, status.Reason);
            Assert.Equal(0, status.Attempts); // no infrastructure retries for a checkpoint's own problem
        }
    }

    [Fact]
    public async Task KillingTheSamplerSiloMidAuditStillCompletesEveryBatchOnce()
    {
        const string key = "t/kill";
        // Where will the audit's sampler live? Ask the activation it will use.
        string where = await fx.Client.GetGrain<ISamplerGrain>($"{key}#0").Where();
        var victim = fx.Cluster.Silos.Single(s => s.SiloAddress.ToString() == where);
        var entry = new CheckpointEntry("kill", Fixtures.Parity, FineTuned: Fixtures.Parity, Prompt: "a photo");
        var spec = fx.Spec("kill", entry, Small with { Images = 16, Batch = 2 });
        var audit = fx.Client.GetGrain<ICheckpointAuditGrain>(key);
        await audit.Start(spec);
        await fx.WaitAsync(audit, TimeSpan.FromMinutes(2), s => s.ImagesDone >= 4 || s.State.IsTerminal());
        await fx.Cluster.KillSiloAsync(victim);
        try
        {
            var status = await fx.WaitAsync(audit, TimeSpan.FromMinutes(3));
            Assert.True(status.State == CheckpointState.Done, status.Reason);
            var results = ResultsJson.Read(Path.Combine(spec.OutputFolder, "results.json"));
            Assert.Equal(16, results.Generated.Count);
            Assert.Equal(16 * 3 * 2, results.Generated.UNetEvaluations); // no batch counted twice
            Assert.Equal(16, Directory.GetFiles(Path.Combine(spec.OutputFolder, "images"), "*.png").Length);
        }
        finally
        {
            await fx.Cluster.StartAdditionalSiloAsync();
        }
    }
}
