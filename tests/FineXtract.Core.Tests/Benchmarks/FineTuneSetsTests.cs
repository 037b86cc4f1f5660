using FineXtract.Benchmarks;

namespace FineXtract.Tests.Benchmarks;

public sealed class FineTuneSetsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fx-sets-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void WikiArtCaptionsComeFromTheTrainRowsOfMetadata()
    {
        var targets = FineTuneSets.Discover(Fixtures.Data, ["wikiart"]);
        var monet = Assert.Single(targets, t => t.Name == "claude-monet");
        Assert.Equal("art style of Impressionism claude monet", monet.Caption);
        Assert.Equal(10, monet.ImageCount);
        Assert.Equal("wikiart/claude-monet", monet.Key);
        Assert.Equal(targets.Select(t => t.Name).Order(StringComparer.Ordinal), targets.Select(t => t.Name));
    }

    [Fact]
    public void DreamBoothCaptionsUseTheRareTokenAndTheClass()
    {
        var targets = FineTuneSets.Discover(Fixtures.Data, ["dreambooth"], names: ["dog", "bear_plushie"]);
        Assert.Equal(["bear_plushie", "dog"], targets.Select(t => t.Name));
        Assert.Equal("a photo of sks stuffed animal", targets[0].Caption);
        Assert.Equal("a photo of sks dog", targets[1].Caption);
        Assert.Equal(5, targets[1].ImageCount);
    }

    [Fact]
    public void PerSetKeepsTheFirstTargetsOfEverySet()
    {
        var targets = FineTuneSets.Discover(Fixtures.Data, ["wikiart", "dreambooth"], perSet: 1);
        Assert.Equal(["wikiart/claude-monet", "dreambooth/backpack"], targets.Select(t => t.Key));
    }

    [Fact]
    public void ANewDataSetNeedsOnlyFoldersAndACaptionsCsv()
    {
        string set = Path.Combine(_dir, "mine");
        Training.TinyWorld.WriteImages(Path.Combine(set, "alpha"), 2, 16, seed: 1);
        Training.TinyWorld.WriteImages(Path.Combine(set, "beta"), 3, 16, seed: 2);
        Directory.CreateDirectory(Path.Combine(set, "empty"));
        File.WriteAllText(Path.Combine(set, "captions.csv"), "name,caption\nalpha,\"a photo of alpha, red\"\nbeta,beta style\n");
        var targets = FineTuneSets.Discover(_dir, ["mine"]);
        Assert.Equal(["alpha", "beta"], targets.Select(t => t.Name));
        Assert.Equal("a photo of alpha, red", targets[0].Caption);
        Assert.Equal(3, targets[1].ImageCount);
    }

    [Fact]
    public void BadInputIsNamed()
    {
        Assert.Contains("no such set", Assert.Throws<FineXtractException>(() => FineTuneSets.Discover(Fixtures.Data, ["nope"])).Message);
        Assert.Contains("no target named zebra", Assert.Throws<FineXtractException>(() => FineTuneSets.Discover(Fixtures.Data, ["dreambooth"], names: ["zebra"])).Message);
        string set = Path.Combine(_dir, "nocaptions");
        Training.TinyWorld.WriteImages(Path.Combine(set, "a"), 1, 8, seed: 1);
        Assert.Contains("no captions file", Assert.Throws<FineXtractException>(() => FineTuneSets.Discover(_dir, ["nocaptions"])).Message);
        File.WriteAllText(Path.Combine(set, "captions.csv"), "name,caption\nb,other\n");
        Assert.Contains("no caption for 'a'", Assert.Throws<FineXtractException>(() => FineTuneSets.Discover(_dir, ["nocaptions"])).Message);
    }
}
