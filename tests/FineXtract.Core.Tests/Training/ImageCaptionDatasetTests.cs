using FineXtract.Training;
using TorchSharp;

namespace FineXtract.Tests.Training;

public class ImageCaptionDatasetTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "finextract-data-" + Guid.NewGuid().ToString("N"));

    public ImageCaptionDatasetTests() => TinyWorld.WriteImages(_dir, 4, 20, seed: 3);

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void CaptionsCsvHandlesQuotesAndOversamplesASource()
    {
        string csv = Path.Combine(_dir, "captions.csv");
        File.WriteAllText(csv, "\uFEFFfile,caption,source\r\nimg0.png,\"Under the Wave, \"\"Kanagawa\"\", artwork by Hokusai\",art\r\nimg1.png,a photo of a cat,photos\r\n");
        var entries = ImageCaptionDataset.ReadCaptionsCsv(csv, oversample: new Dictionary<string, int> { ["art"] = 3 });
        Assert.Equal(4, entries.Count);
        Assert.Equal(3, entries.Count(e => e.Source == "art"));
        Assert.Equal("Under the Wave, \"Kanagawa\", artwork by Hokusai", entries[0].Caption);
        Assert.Equal(Path.Combine(_dir, "img0.png"), entries[0].Path);
        var e = Assert.Throws<FineXtractException>(() => ImageCaptionDataset.ReadCaptionsCsv(csv, oversample: new Dictionary<string, int> { ["paintings"] = 2 }));
        Assert.Contains("paintings", e.Message);
    }

    [Fact]
    public void FolderCaptionsComeFromPromptCsvOrSidecars()
    {
        Assert.All(ImageCaptionDataset.ReadFolder(_dir, "sks teapot"), e => Assert.Equal("sks teapot", e.Caption));
        var missing = Assert.Throws<FineXtractException>(() => ImageCaptionDataset.ReadFolder(_dir, null));
        Assert.Contains("no caption", missing.Message);
        for (int i = 0; i < 4; i++) File.WriteAllText(Path.Combine(_dir, $"img{i}.txt"), $"caption {i}\n");
        Assert.Equal("caption 2", ImageCaptionDataset.ReadFolder(_dir, null)[2].Caption);
        string csv = Path.Combine(_dir, "meta.csv");
        File.WriteAllText(csv, "file_name,text\nimg0.png,a\nimg1.png,b\nimg2.png,c\nimg3.png,d\n");
        Assert.Equal(["a", "b", "c", "d"], ImageCaptionDataset.ReadFolder(_dir, null, csv).Select(e => e.Caption));
    }

    [Fact]
    public void DataOrderIsASeededPermutationPerEpoch()
    {
        var a = new DataOrder(10, 5);
        var epoch0 = Enumerable.Range(0, 10).Select(i => a.At(i)).ToArray();
        var epoch1 = Enumerable.Range(10, 10).Select(i => a.At(i)).ToArray();
        Assert.Equal(Enumerable.Range(0, 10), epoch0.Order());
        Assert.Equal(Enumerable.Range(0, 10), epoch1.Order());
        Assert.NotEqual(epoch0, epoch1);
        Assert.Equal(new DataOrder(10, 5).Batch(3, 4), a.Batch(3, 4));
        Assert.NotEqual(new DataOrder(10, 6).Batch(0, 10), a.Batch(0, 10));
    }

    [Fact]
    public void BatchesAreAugmentedDeterministicallyInMinusOneToOne()
    {
        using var data = new ImageCaptionDataset(ImageCaptionDataset.ReadFolder(_dir, "x"), new Augmentation(16, Padding: 2, Flip: true));
        using var b1 = data.Batch([0, 1, 2], seed: 1, step: 4);
        using var b2 = data.Batch([0, 1, 2], seed: 1, step: 4);
        using var b3 = data.Batch([0, 1, 2], seed: 1, step: 5);
        Assert.Equal(new long[] { 3, 3, 16, 16 }, b1.shape);
        Assert.True(b1.allclose(b2, rtol: 0, atol: 0));
        Assert.False(b1.allclose(b3, rtol: 0, atol: 0));
        Assert.True(b1.min().item<float>() >= -1 && b1.max().item<float>() <= 1);
        using var centred = data.LoadCentred(0);
        Assert.Equal(new long[] { 3, 16, 16 }, centred.shape);
    }
}
