using System.IO.Compression;
using FineXtract.Checkpoints;
using FineXtract.Extraction.Descriptors;
using FineXtract.Extraction.Imaging;
using TorchSharp;
using Xunit.Abstractions;

namespace FineXtract.Tests.Descriptors;

public class SscdDescriptorTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fx-sscd-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Theory]
    [InlineData("sscd_tiny.scripted.pt")]
    [InlineData("sscd_tiny.traced.pt")]
    public void TorchScriptReproducesReferenceEmbeddings(string file)
    {
        using var descriptor = SscdDescriptor.Load(Fixtures.Path_("sscd", file), DescriptorPreprocessing.Sscd);
        Assert.True(descriptor.IsSscd);
        Assert.Equal(32, descriptor.Dimension);
        Assert.Contains(file, descriptor.Name);

        using var io = SafeTensorsFile.Open(Fixtures.Path_("sscd", "io.safetensors"));
        foreach (var (input, expected) in new[] { ("input", "embeddings"), ("input_48x80", "embeddings_48x80") })
        {
            using var x = io.Load(input, torch.ScalarType.Float32);
            using var e = io.Load(expected, torch.ScalarType.Float32);
            using var y = descriptor.EmbedPreprocessed(x);
            Parity.AssertClose(y, e, 1e-4, $"{file} {input} → {expected}", log);
            using var norms = y.norm(1);
            Assert.True((norms - 1).abs().max().item<float>() < 1e-5f);
        }
    }

    [Fact]
    public void EmbedPreprocessesAndBatches()
    {
        using var descriptor = SscdDescriptor.Load(Fixtures.Path_("sscd", "sscd_tiny.scripted.pt"), batchSize: 2);
        Assert.Equal(DescriptorPreprocessing.FineXtract, descriptor.Preprocessing);
        var files = ImageIO.ListImages(Path.Combine(Fixtures.Data, "dreambooth", "dog")).Take(3).ToList();
        var images = files.Select(ImageIO.Load).ToList();
        try
        {
            var rows = descriptor.Embed(images);
            Assert.Equal(3, rows.Length);
            using var batch = torch.stack(images.Select(descriptor.Preprocessing.Apply).ToList());
            using var direct = descriptor.EmbedPreprocessed(batch);
            for (int i = 0; i < 3; i++)
            {
                Assert.Equal(32, rows[i].Length);
                Assert.Equal(1.0, ImageDescriptorExtensions.Similarity(rows[i], rows[i]), 4);
                var d = direct[i].data<float>().ToArray();
                for (int j = 0; j < 32; j++) Assert.Equal(d[j], rows[i][j], 5);
            }
            var fromFiles = descriptor.EmbedFiles(files, batchSize: 2);
            for (int i = 0; i < 3; i++) Assert.Equal(rows[i], fromFiles[i]);
        }
        finally
        {
            foreach (var t in images) t.Dispose();
        }
    }

    [Fact]
    public void FactoryMakesBothKinds()
    {
        using var sscd = DescriptorFactory.Create(Fixtures.Path_("sscd", "sscd_tiny.traced.pt"), DescriptorPreprocessing.Sscd);
        Assert.IsType<SscdDescriptor>(sscd);
        Assert.Equal(DescriptorPreprocessing.Sscd, sscd.Preprocessing);
        using var builtin = DescriptorFactory.Create("Builtin");
        Assert.IsType<BuiltinDescriptor>(builtin);
        Assert.False(builtin.IsSscd);
        Assert.Throws<FineXtractException>(() => DescriptorFactory.Create(" "));
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("folder")]
    [InlineData("garbage")]
    [InlineData("safetensors")]
    [InlineData("pickled-state-dict")]
    [InlineData("broken-code")]
    public void NonTorchScriptFilesGiveClearErrors(string kind)
    {
        string path = Path.Combine(_dir, $"{kind}.pt");
        switch (kind)
        {
            case "folder": Directory.CreateDirectory(path); break;
            case "garbage": File.WriteAllBytes(path, [.. Enumerable.Range(0, 300).Select(i => (byte)(i * 7))]); break;
            case "safetensors": path = Fixtures.Path_("sscd", "io.safetensors"); break;
            case "pickled-state-dict":
                // The layout torch.save writes: <name>/data.pkl, <name>/data/0, … and no code.
                using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
                {
                    foreach (var entry in new[] { "model/data.pkl", "model/data/0", "model/version", "model/byteorder" })
                        using (var s = zip.CreateEntry(entry).Open()) s.Write("\u0080\u0002}q\u0000."u8);
                }
                break;
            case "broken-code":
                // Looks like TorchScript (has code/) but libtorch cannot load it.
                using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
                {
                    foreach (var entry in new[] { "m/data.pkl", "m/code/__torch__/m.py", "m/constants.pkl", "m/version" })
                        using (var s = zip.CreateEntry(entry).Open()) s.Write("not really"u8);
                }
                break;
        }
        var e = Assert.Throws<FineXtractException>(() => SscdDescriptor.Load(path).Dispose());
        log.WriteLine($"{kind}: {e.Message}");
        Assert.Contains(path, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        if (kind == "pickled-state-dict") Assert.Contains("torch.save", e.Message);
        var viaFactory = Assert.Throws<FineXtractException>(() => DescriptorFactory.Create(path).Dispose());
        Assert.Equal(e.Message, viaFactory.Message);
    }

    [Fact]
    public void PreprocessingParses()
    {
        Assert.Same(DescriptorPreprocessing.FineXtract, DescriptorPreprocessing.Parse("FineXtract"));
        Assert.Same(DescriptorPreprocessing.Sscd, DescriptorPreprocessing.Parse("sscd"));
        Assert.Throws<FineXtractException>(() => DescriptorPreprocessing.Parse("imagenet"));
        Assert.Equal(224, DescriptorPreprocessing.FineXtract.NominalSize);
        Assert.Equal(288, DescriptorPreprocessing.Sscd.NominalSize);
    }
}
