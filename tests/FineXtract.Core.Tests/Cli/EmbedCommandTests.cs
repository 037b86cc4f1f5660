using System.Text.Json;
using FineXtract.Checkpoints;
using FineXtract.Extraction.Descriptors;
using FineXtract.Extraction.Imaging;
using Xunit.Abstractions;

namespace FineXtract.Tests.Cli;

public class EmbedCommandTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fx-embed-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>Three images whose ordinal order (A.png, b.jpg, c.jpg) differs from the order they are written in.</summary>
    private string ImageFolder()
    {
        var folder = Path.Combine(_dir, "images");
        Directory.CreateDirectory(folder);
        var source = ImageIO.ListImages(Path.Combine(Fixtures.Data, "dreambooth", "cat"));
        File.Copy(source[1], Path.Combine(folder, "c.jpg"));
        File.Copy(source[0], Path.Combine(folder, "b.jpg"));
        using (var img = ImageIO.Load(source[2])) ImageIO.SavePng(img, Path.Combine(folder, "A.png"));
        File.WriteAllText(Path.Combine(folder, "readme.txt"), "not an image");
        return folder;
    }

    [Fact]
    public async Task BuiltinEmbeddingsAndMetadata()
    {
        var folder = ImageFolder();
        var output = Path.Combine(_dir, "out", "emb.safetensors");
        var (code, stdout, stderr) = await CliHarness.RunAsync("embed", "--images", folder, "--out", output, "--batch-size", "2");
        log.WriteLine(stdout + stderr);
        Assert.True(code == 0, stderr);
        Assert.Contains("not SSCD", stderr);
        Assert.Contains("embedded 3 images", stdout);

        using var file = SafeTensorsFile.Open(output);
        Assert.Equal(new[] { "A.png", "b.jpg", "c.jpg" }, JsonSerializer.Deserialize<string[]>(file.Metadata["files"]));
        Assert.Equal("builtin-pixel (not SSCD)", file.Metadata["descriptor"]);
        Assert.Equal("false", file.Metadata["descriptor_is_sscd"]);
        Assert.Equal("finextract", file.Metadata["preprocess"]);
        using var embeddings = file.Load("embeddings");
        Assert.Equal(new long[] { 3, 6144 }, embeddings.shape);

        using var descriptor = new BuiltinDescriptor();
        var expected = descriptor.EmbedFiles(ImageIO.ListImages(folder));
        for (int i = 0; i < 3; i++) Assert.Equal(expected[i], embeddings[i].data<float>().ToArray());
    }

    [Fact]
    public async Task TorchScriptDescriptorWithSscdPreprocessing()
    {
        var folder = ImageFolder();
        var output = Path.Combine(_dir, "sscd.safetensors");
        var model = Fixtures.Path_("sscd", "sscd_tiny.scripted.pt");
        var (code, _, stderr) = await CliHarness.RunAsync("embed", "--images", folder, "--descriptor", model, "--preprocess", "sscd", "--out", output);
        Assert.True(code == 0, stderr);
        Assert.DoesNotContain("not SSCD", stderr);
        using var file = SafeTensorsFile.Open(output);
        Assert.Equal("true", file.Metadata["descriptor_is_sscd"]);
        Assert.Equal("sscd", file.Metadata["preprocess"]);
        Assert.Contains("sscd_tiny.scripted.pt", file.Metadata["descriptor"]);
        using var embeddings = file.Load("embeddings");
        Assert.Equal(new long[] { 3, 32 }, embeddings.shape);
        using var descriptor = SscdDescriptor.Load(model, DescriptorPreprocessing.Sscd);
        var expected = descriptor.EmbedFiles(ImageIO.ListImages(folder));
        for (int i = 0; i < 3; i++)
        {
            var row = embeddings[i].data<float>().ToArray();
            for (int j = 0; j < 32; j++) Assert.Equal(expected[i][j], row[j], 5);
        }
    }

    [Theory]
    [InlineData("missing-folder")]
    [InlineData("empty-folder")]
    [InlineData("bad-descriptor")]
    [InlineData("missing-descriptor")]
    [InlineData("bad-preprocess")]
    [InlineData("corrupt-image")]
    public async Task BadInputGivesOneLineError(string kind)
    {
        var folder = kind == "empty-folder" ? Directory.CreateDirectory(Path.Combine(_dir, "empty")).FullName
            : kind == "missing-folder" ? Path.Combine(_dir, "nope") : ImageFolder();
        var args = new List<string> { "embed", "--images", folder, "--out", Path.Combine(_dir, "o.safetensors") };
        switch (kind)
        {
            case "bad-descriptor":
                var bad = Path.Combine(_dir, "model.pt");
                File.WriteAllText(bad, "this is not torchscript");
                args.AddRange(["--descriptor", bad]);
                break;
            case "missing-descriptor": args.AddRange(["--descriptor", Path.Combine(_dir, "none.pt")]); break;
            case "bad-preprocess": args.AddRange(["--preprocess", "imagenet"]); break;
            case "corrupt-image": File.WriteAllBytes(Path.Combine(folder, "d.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]); break;
        }
        var (code, stdout, stderr) = await CliHarness.RunAsync([.. args]);
        log.WriteLine(stderr);
        Assert.NotEqual(0, code);
        Assert.DoesNotContain("   at ", stderr + stdout);
        var errorLines = stderr.Trim().Split('\n').Where(l => !l.StartsWith("note:")).ToArray();
        if (kind != "bad-preprocess") Assert.Single(errorLines);
        Assert.False(File.Exists(Path.Combine(_dir, "o.safetensors")));
    }
}
