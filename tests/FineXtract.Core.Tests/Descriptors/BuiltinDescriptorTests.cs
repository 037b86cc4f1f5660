using FineXtract.Extraction.Descriptors;
using FineXtract.Extraction.Imaging;
using TorchSharp;
using Xunit.Abstractions;

namespace FineXtract.Tests.Descriptors;

public class BuiltinDescriptorTests(ITestOutputHelper log)
{
    [Fact]
    public void NameSaysItIsNotSscd()
    {
        using var d = new BuiltinDescriptor();
        Assert.Contains("not SSCD", d.Name);
        Assert.False(d.IsSscd);
        Assert.Equal(6 * 32 * 32, d.Dimension);
        Assert.Same(DescriptorPreprocessing.FineXtract, d.Preprocessing);
    }

    [Fact]
    public void DeterministicUnitNormAndIndependentOfNormalisationConstants()
    {
        var file = ImageIO.ListImages(Path.Combine(Fixtures.Data, "wikiart", "vincent-van-gogh"))[0];
        using var img = ImageIO.Load(file);
        using var a = new BuiltinDescriptor();
        using var b = new BuiltinDescriptor(DescriptorPreprocessing.FineXtract with { Mean = new Rgb(0.485f, 0.456f, 0.406f), Std = new Rgb(0.229f, 0.224f, 0.225f) });
        var e1 = a.Embed([img])[0];
        var e2 = a.Embed([img])[0];
        var e3 = b.Embed([img])[0];
        Assert.Equal(e1, e2);
        Assert.Equal(1.0, ImageDescriptorExtensions.Similarity(e1, e1), 5);
        Assert.Equal(1.0, ImageDescriptorExtensions.Similarity(e1, e3), 5);
        // Brightness/contrast change per channel does not matter either (8-bit-exact affine map).
        using var dimmer = img * 0.8 + 0.1;
        Assert.True(ImageDescriptorExtensions.Similarity(e1, a.Embed([dimmer])[0]) > 0.99);
    }

    [Fact]
    public void ConstantImageGivesZeroVectorNotNaN()
    {
        using var grey = torch.full([3, 40, 40], 0.5f);
        using var d = new BuiltinDescriptor();
        var e = d.Embed([grey])[0];
        Assert.All(e, v => Assert.Equal(0f, v));
    }

    private static torch.Tensor JpegCopy(torch.Tensor img, int quality) => ImageIO.Decode(ImageIO.EncodeJpeg(img, quality), "copy");

    /// <summary>Gaussian blur (σ, 5×5, edges replicated), stored as 8-bit like a saved image.</summary>
    private static torch.Tensor BlurCopy(torch.Tensor img, double sigma)
    {
        using var scope = torch.NewDisposeScope();
        var k1 = torch.tensor(Enumerable.Range(-2, 5).Select(i => (float)Math.Exp(-i * i / (2 * sigma * sigma))).ToArray());
        k1 = k1 / k1.sum();
        var kernel = torch.outer(k1, k1).expand(3, 1, 5, 5).contiguous();
        var padded = torch.nn.functional.pad(img.unsqueeze(0), [2, 2, 2, 2], PaddingModes.Replicate);
        var blurred = torch.nn.functional.conv2d(padded, kernel, groups: 3).squeeze(0);
        return ((blurred * 255).round() / 255).MoveToOuterDisposeScope();
    }

    /// <summary>Content moved right by dx and down by dy pixels, uncovered border replicated.</summary>
    private static torch.Tensor ShiftCopy(torch.Tensor img, int dx, int dy)
    {
        using var scope = torch.NewDisposeScope();
        long h = img.shape[1], w = img.shape[2];
        var padded = torch.nn.functional.pad(img.unsqueeze(0), [dx, 0, dy, 0], PaddingModes.Replicate).squeeze(0);
        return padded[.., ..(int)h, ..(int)w].contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Copy-detector behaviour on the real data: every JPEG-recompressed (q75), blurred (σ = 1) and 2-px-shifted
    /// (horizontal, and diagonal 2+2) copy scores ≥ 0.9 against its original, far above any two different photos of
    /// one DreamBooth subject or two paintings by one artist (training and held-out), and every copy retrieves its own
    /// original among all images.
    /// </summary>
    [Fact]
    public void CopiesScoreFarAboveSameSubjectAndSameArtist()
    {
        var groups = new List<(string Name, IReadOnlyList<string> Files)>();
        foreach (var dir in Directory.GetDirectories(Path.Combine(Fixtures.Data, "dreambooth")).Order(StringComparer.Ordinal))
            if (ImageIO.ListImages(dir) is { Count: > 1 } files) groups.Add(("dreambooth/" + Path.GetFileName(dir), files));
        foreach (var dir in Directory.GetDirectories(Path.Combine(Fixtures.Data, "wikiart")).Order(StringComparer.Ordinal))
        {
            var held = Path.Combine(Fixtures.Data, "wikiart_heldout", Path.GetFileName(dir));
            var files = ImageIO.ListImages(dir).Concat(Directory.Exists(held) ? ImageIO.ListImages(held) : []).ToList();
            groups.Add(("wikiart/" + Path.GetFileName(dir), files));
        }
        Assert.True(groups.Count >= 20, $"only {groups.Count} groups found");

        using var descriptor = new BuiltinDescriptor();
        string[] kinds = ["jpeg75", "blur1", "shift2", "shift2x2"];
        var copyScores = kinds.ToDictionary(k => k, _ => new List<(double Score, string File)>());
        var sameGroup = new List<(double Score, string A, string B)>();
        var originals = new List<(float[] E, int Group, string File)>();
        var copies = new List<(float[] E, string File, string Kind)>();
        for (int g = 0; g < groups.Count; g++)
        {
            var embeddings = new List<float[]>();
            foreach (var file in groups[g].Files)
            {
                using var scope = torch.NewDisposeScope();
                var img = ImageIO.Load(file);
                var e = descriptor.Embed([img, JpegCopy(img, 75), BlurCopy(img, 1.0), ShiftCopy(img, 2, 0), ShiftCopy(img, 2, 2)]);
                embeddings.Add(e[0]);
                originals.Add((e[0], g, file));
                for (int k = 0; k < kinds.Length; k++)
                {
                    copyScores[kinds[k]].Add((ImageDescriptorExtensions.Similarity(e[0], e[k + 1]), file));
                    copies.Add((e[k + 1], file, kinds[k]));
                }
            }
            for (int i = 0; i < embeddings.Count; i++)
                for (int j = i + 1; j < embeddings.Count; j++)
                    sameGroup.Add((ImageDescriptorExtensions.Similarity(embeddings[i], embeddings[j]), groups[g].Files[i], groups[g].Files[j]));
        }

        string Short(string f) => Path.GetRelativePath(Fixtures.Data, f);
        log.WriteLine($"{originals.Count} images in {groups.Count} groups, {sameGroup.Count} same-group pairs");
        foreach (var k in kinds)
        {
            var s = copyScores[k];
            var worst = s.MinBy(x => x.Score);
            log.WriteLine($"copy {k,-9}: min {worst.Score:F4} ({Short(worst.File)}), mean {s.Average(x => x.Score):F4}");
        }
        var ordered = sameGroup.OrderByDescending(x => x.Score).ToList();
        log.WriteLine($"same subject/artist: max {ordered[0].Score:F4}, 99th pct {ordered[ordered.Count / 100].Score:F4}, mean {sameGroup.Average(x => x.Score):F4}");
        foreach (var (score, a, b) in ordered.Take(5)) log.WriteLine($"  {score:F4}  {Short(a)} ~ {Short(b)}");

        double minCopy = copyScores.Values.SelectMany(x => x).Min(x => x.Score);
        double maxSame = ordered[0].Score;
        Assert.True(minCopy >= 0.9, $"a copy scored {minCopy:F4} < 0.9");
        Assert.True(maxSame <= 0.87, $"two different images of one subject/artist scored {maxSame:F4} > 0.87");
        Assert.True(minCopy - maxSame >= 0.05, $"margin {minCopy - maxSame:F4}");
        Assert.True(copyScores.Values.SelectMany(x => x).Average(x => x.Score) - sameGroup.Average(x => x.Score) >= 0.6);

        // Retrieval: every copy's nearest original is its own.
        int misses = 0;
        foreach (var (e, file, kind) in copies)
        {
            var best = originals.MaxBy(o => ImageDescriptorExtensions.Similarity(e, o.E));
            if (best.File != file)
            {
                misses++;
                log.WriteLine($"  {kind} copy of {Short(file)} retrieved {Short(best.File)}");
            }
        }
        log.WriteLine($"retrieval: {copies.Count - misses}/{copies.Count} copies find their original first");
        Assert.Equal(0, misses);
    }
}
