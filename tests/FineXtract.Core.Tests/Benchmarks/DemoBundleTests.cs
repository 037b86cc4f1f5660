using FineXtract.Benchmarks;
using FineXtract.Checkpoints;
using FineXtract.Extraction.Pipeline;
using FineXtract.Tests.Cli;
using Xunit.Abstractions;

namespace FineXtract.Tests.Benchmarks;

/// <summary>The shipped demo models: checksums, size budget, loading through the real loaders, and `finextract demo` itself.</summary>
public sealed class DemoBundleTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fx-demo-").FullName;
    private static DemoBundle Bundle => DemoBundle.Open(DemoBundle.Locate(null));

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void ShippedFilesMatchTheirChecksumsAndStayWithinTheBudget()
    {
        var bundle = Bundle;
        bundle.Verify();
        var listed = bundle.Checksums().Select(c => c.File).ToHashSet();
        var models = Directory.GetFiles(Path.Combine(bundle.Root, "models"), "*", SearchOption.AllDirectories);
        Assert.All(models, f => Assert.Contains(Path.GetRelativePath(bundle.Root, f).Replace('\\', '/'), listed));
        long bytes = models.Sum(f => new FileInfo(f).Length);
        log.WriteLine($"demo models: {bytes / 1e6:F1} MB");
        Assert.True(bytes <= 40_000_000, $"demo models take {bytes} bytes, over the 40 MB budget");
        Assert.True(bundle.Target.ImageCount >= 3);
    }

    [Fact]
    public void ADamagedFileIsNamed()
    {
        string copy = Path.Combine(_dir, "demo");
        Directory.CreateDirectory(copy);
        var bundle = Bundle;
        foreach (var file in new[] { DemoBundle.DescriptionFile, DemoBundle.ChecksumFile }) File.Copy(Path.Combine(bundle.Root, file), Path.Combine(copy, file));
        foreach (var (relative, _) in bundle.Checksums())
        {
            string target = Path.Combine(copy, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(Path.Combine(bundle.Root, relative), target, overwrite: true);
        }
        DemoBundle.Open(copy).Verify();
        string lora = Path.Combine(copy, DemoBundle.Open(copy).Description.Lora);
        var bytes = File.ReadAllBytes(lora);
        bytes[^1] ^= 1;
        File.WriteAllBytes(lora, bytes);
        var error = Assert.Throws<FineXtractException>(() => DemoBundle.Open(copy).Verify());
        Assert.Contains("lora.safetensors: SHA-256", error.Message);
    }

    [Fact]
    public void ShippedModelsLoadThroughTheRealLoaders()
    {
        var bundle = Bundle;
        using var models = ExtractionModels.Load(new ModelSources(bundle.BasePath, null, bundle.LoraPath));
        Assert.True(models.LoraModulesMerged > 0);
        using var full = ExtractionModels.Load(new ModelSources(bundle.BasePath, bundle.DreamBoothPath, null));
        Assert.Equal(full.PretrainedUnet.Config.SampleSize, full.FineTunedUnet.Config.SampleSize);
        using var lora = SafeTensorsFile.Open(bundle.LoraPath);
        // kohya's own conventions: img_count per dataset folder, the caption as the tag, LoCon's conv_dim.
        Assert.Contains($"\"img_count\":{bundle.Target.ImageCount}", lora.Metadata["ss_dataset_dirs"].Replace(" ", ""));
        Assert.Contains(bundle.Description.Caption, lora.Metadata["ss_tag_frequency"]);
        Assert.Contains("conv_dim", lora.Metadata["ss_network_args"]);
    }

    [Fact]
    public async Task DemoRunsEndToEndOnASmallBudget()
    {
        string output = Path.Combine(_dir, "out");
        var (code, stdout, stderr) = await CliHarness.RunAsync("demo", "--images", "4", "--steps", "3", "--out", output);
        log.WriteLine(stdout + stderr);
        Assert.True(code == 0, stderr);
        Assert.Contains("SHA-256 verified", stderr);
        Assert.Contains("FineXtract (code-faithful)", stdout);
        Assert.Contains("CFG + clustering", stdout);
        Assert.True(File.Exists(Path.Combine(output, "paper-table.md")));
        var demo = Bundle.Description;
        Assert.True(File.Exists(Path.Combine(output, "runs", demo.Set, demo.Name, "lora", "finextract", "report.html")));
    }
}
