using System.Text.Json;
using FineXtract.Benchmarks;
using FineXtract.Cli.Benchmarks;
using FineXtract.Extraction.Evidence;
using FineXtract.Tests.Cli;
using FineXtract.Tests.Training;
using Xunit.Abstractions;

namespace FineXtract.Tests.Benchmarks;

/// <summary>`bench paper` end to end on the tiny world: fine-tunes, every method, the table files, and resuming without redoing work.</summary>
public sealed class PaperBenchCommandTests(TinyWorld world, ITestOutputHelper log) : IClassFixture<TinyWorld>
{
    [Fact]
    public async Task TableCoversEveryMethodAndARerunReusesEverything()
    {
        string data = world.NewDir("data");
        string set = Path.Combine(data, "tinyset");
        TinyWorld.WriteImages(Path.Combine(set, "painter"), 3, 24, seed: 5);
        File.WriteAllText(Path.Combine(set, "captions.csv"), $"name,caption\npainter,{TinyWorld.Prompt}\n");
        string output = world.NewDir("paper");
        string[] args = ["bench", "paper", "--base", world.BaseDir, "--data", data, "--sets", "tinyset", "--steps-per-image", "2",
            "--images", "4", "--steps", "2", "--batch", "2", "--out", output];

        var (code, stdout, stderr) = await CliHarness.RunAsync(args);
        log.WriteLine(stdout + stderr);
        Assert.True(code == 0, stderr);
        Assert.True(File.Exists(Path.Combine(output, "finetunes", "tinyset", "painter", "dreambooth", "unet", "diffusion_pytorch_model.safetensors")));
        Assert.True(File.Exists(Path.Combine(output, "finetunes", "tinyset", "painter", "lora.safetensors")));

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, PaperBenchmark.JsonFile)));
        var rows = json.RootElement.GetProperty("rows").EnumerateArray().Select(r => (r.GetProperty("fineTune").GetString(), r.GetProperty("method").GetString())).ToList();
        foreach (var kind in new[] { "dreambooth", "lora" })
            foreach (var method in PaperMethods.Order)
                Assert.Contains((kind, method), rows);
        Assert.Equal(10, rows.Count);
        // The unclustered rows hand over N = 3 images; each run generated 4.
        var cfg = json.RootElement.GetProperty("runs").EnumerateArray().First(r => r.GetProperty("method").GetString() == PaperMethods.Cfg);
        Assert.Equal(3, cfg.GetProperty("extracted").GetInt32());
        Assert.Equal(4, cfg.GetProperty("generated").GetInt32());
        var cfgResults = ResultsJson.Read(Path.Combine(output, "runs", "tinyset", "painter", cfg.GetProperty("fineTune").GetString()!, "cfg", EvidenceBuilder.ResultsFile));
        Assert.Equal(cfgResults.Generated.UNetEvaluations, cfg.GetProperty("uNetEvaluations").GetInt64());
        Assert.True(cfgResults.Generated.UNetEvaluations >= 4 * 2 * 2);
        string markdown = File.ReadAllText(Path.Combine(output, PaperBenchmark.MarkdownFile));
        Assert.Contains("| tinyset | lora | CFG + clustering | 1 |", markdown);
        Assert.Contains("vs CFG + clustering", markdown);

        string results = Path.Combine(output, "runs", "tinyset", "painter", "lora", "finextract", EvidenceBuilder.ResultsFile);
        var written = File.GetLastWriteTimeUtc(results);
        var (again, stdout2, stderr2) = await CliHarness.RunAsync(args);
        Assert.True(again == 0, stderr2);
        Assert.Contains("trained already", stderr2);
        Assert.Contains("8 extractions reused", File.ReadAllText(Path.Combine(output, PaperBenchmark.MarkdownFile)));
        Assert.Equal(written, File.GetLastWriteTimeUtc(results));
        Assert.Equal(markdown.Split('\n').Count(l => l.StartsWith("| tinyset")), File.ReadAllText(Path.Combine(output, PaperBenchmark.MarkdownFile)).Split('\n').Count(l => l.StartsWith("| tinyset")));
    }

    [Fact]
    public async Task UnknownMethodsAndMissingBasesAreUserErrors()
    {
        var (code, _, stderr) = await CliHarness.RunAsync("bench", "paper", "--base", world.BaseDir, "--data", Fixtures.Data, "--methods", "magic", "--out", world.NewDir("x"));
        Assert.Equal(2, code);
        Assert.Contains("unknown method magic", stderr);
        (code, _, stderr) = await CliHarness.RunAsync("bench", "paper", "--base", world.NewDir("none"), "--data", Fixtures.Data, "--out", world.NewDir("y"));
        Assert.Equal(2, code);
        Assert.Contains("not a pipeline folder", stderr);
    }
}
