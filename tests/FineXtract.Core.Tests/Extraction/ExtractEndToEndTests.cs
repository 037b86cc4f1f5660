using System.Text.Json;
using FineXtract.Checkpoints;
using FineXtract.Extraction.Evidence;
using FineXtract.Extraction.Pipeline;
using FineXtract.Tests.Cli;
using Xunit.Abstractions;

namespace FineXtract.Tests.Extraction;

/// <summary>`extract` on the tiny fixture models with a reference folder: every output file, the metrics, `reproduce`.</summary>
public sealed class ExtractEndToEndTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fx-e2e-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string Reference()
    {
        // Five real photos as the "training images".
        return Path.Combine(Fixtures.Data, "dreambooth", "dog");
    }

    [Fact]
    public async Task ExtractWritesCompleteEvidenceAndReproduceIsBitIdentical()
    {
        string output = Path.Combine(_dir, "run");
        var (code, stdout, stderr) = await CliHarness.RunAsync("extract", "--base", Fixtures.Parity,
            "--lora", Fixtures.Path_("lora", "kohya_lora.safetensors"), "--prompt", "sks dog", "--images", "12", "--batch", "4",
            "--steps", "6", "--expect", "3", "--select", "exact-n", "--reference", Reference(), "--out", output);
        log.WriteLine(stdout);
        log.WriteLine(stderr);
        Assert.True(code == 0, stderr);
        Assert.Contains("AS ", stdout);

        Assert.Equal(12, Directory.GetFiles(Path.Combine(output, "images"), "*.png").Length);
        Assert.Equal(3, Directory.GetFiles(Path.Combine(output, "extracted"), "*.png").Length);
        var results = ResultsJson.Read(Path.Combine(output, "results.json"));
        Assert.Equal("completed", results.Status);
        Assert.Equal("finextract", results.Parameters.Method);
        Assert.Equal(5.0, results.Parameters.GuidanceScale); // LoRA default
        Assert.Equal("exact-n", results.Clustering!.Selection);
        Assert.Equal(3, results.Extracted.Count);
        Assert.True(results.Clustering.M >= 3);
        Assert.Equal(12 * 6 * 2, results.Generated.UNetEvaluations);
        Assert.Contains(results.Inputs, i => i.Role == "lora" && i.Files.Single().Sha256.Length == 64);
        Assert.Contains(results.Inputs, i => i.Role == "reference" && i.Files.Count == 5);
        Assert.NotNull(results.Parameters.Descriptor.Warning);

        var metrics = results.Metrics!;
        Assert.Equal(5, metrics.PerImage.Count);
        Assert.Equal(metrics.PerImage.Average(m => m.Similarity), metrics.AverageSimilarity, 6);
        Assert.Equal(new[] { "0.5", "0.6", "0.7" }, metrics.SuccessRates.Keys);
        Assert.True(metrics.OracleAverageSimilarity >= metrics.AverageSimilarity - 1e-9);
        // The no-clustering baseline: the first N = 3 generated images.
        Assert.Equal(3, metrics.FirstN);
        Assert.True(metrics.OracleAverageSimilarity >= metrics.FirstNAverageSimilarity - 1e-9);
        Assert.Equal(new[] { "0.5", "0.6", "0.7" }, metrics.FirstNSuccessRates.Keys);

        using (var emb = SafeTensorsFile.Open(Path.Combine(output, "embeddings.safetensors")))
        {
            Assert.Equal(12, emb.Tensors["embeddings"].Shape[0]);
            Assert.Equal(12, JsonSerializer.Deserialize<string[]>(emb.Metadata["files"])!.Length);
        }
        string report = File.ReadAllText(Path.Combine(output, "report.html"));
        Assert.Contains("data:image/png;base64,", report);
        Assert.Contains("NOT SSCD", report);
        Assert.Contains("finextract reproduce results.json --image N", report);

        // Image 6 sits in the middle of batch [4, 8).
        var (rc, reproduced, err) = await CliHarness.RunAsync("reproduce", Path.Combine(output, "results.json"), "--image", "6");
        Assert.True(rc == 0, err + reproduced);
        Assert.Contains("bit-identical", reproduced);
    }

    [Fact]
    public async Task CancellingLeavesAValidPartialResult()
    {
        using var cts = new CancellationTokenSource();
        var progress = new SynchronousProgress(p =>
        {
            if (p.Phase == "sampling" && p.ImagesDone >= 4) cts.Cancel();
        });
        string output = Path.Combine(_dir, "cancelled");
        // The same path as `extract`: the checkpoint runs through an embedded silo's grains.
        var results = await FineXtract.Silo.EmbeddedSilo.RunAsync(new ExtractionRequest
        {
            Models = new ModelSources(Fixtures.Parity, Fixtures.Parity, null),
            Prompt = "a photo",
            Images = 40,
            Batch = 4,
            Steps = 3,
            Expected = 2,
            OutputFolder = output,
        }, progress, cts.Token);
        Assert.Equal("cancelled", results.Status);
        // Cancellation reaches the sampler through the audit grain (polled every 100 ms): it stops after the batch in flight.
        Assert.InRange(results.Generated.Count, 4, 36);
        Assert.Equal(results.Generated.Count, Directory.GetFiles(Path.Combine(output, "images")).Length);
        var reread = ResultsJson.Read(Path.Combine(output, "results.json"));
        Assert.Equal("cancelled", reread.Status);
        Assert.NotNull(reread.Clustering);
        Assert.Contains("stopped before all images", File.ReadAllText(Path.Combine(output, "report.html")));
        Assert.Equal(3.0, reread.Parameters.GuidanceScale); // full fine-tune default
        Assert.Equal(-0.02, reread.Parameters.FixTerm);
    }

    [Theory]
    [InlineData("--images", "0", "--images must be at least 1")]
    [InlineData("--method", "magic", "magic")]
    [InlineData("--reference", "/nonexistent/ref", "reference folder not found")]
    public async Task BadOptionsAreOneLineErrors(string option, string value, string expected)
    {
        var (code, stdout, stderr) = await CliHarness.RunAsync("extract", "--base", Fixtures.Parity, "--finetuned", Fixtures.Parity,
            "--prompt", "x", "--out", Path.Combine(_dir, "bad"), option, value);
        Assert.NotEqual(0, code);
        Assert.Contains(expected, stderr + stdout);
        Assert.DoesNotContain("   at ", stderr);
    }

    private sealed class SynchronousProgress(Action<ExtractionProgress> report) : IProgress<ExtractionProgress>
    {
        public void Report(ExtractionProgress value) => report(value);
    }
}
