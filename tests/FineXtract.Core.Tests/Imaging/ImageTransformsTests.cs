using FineXtract.Extraction.Descriptors;
using FineXtract.Extraction.Imaging;
using TorchSharp;

using static FineXtract.Tests.Exact;

namespace FineXtract.Tests.Imaging;

public class ImageTransformsTests
{
    private static torch.Tensor Row(params float[] v) => torch.tensor(v, [1, 1, v.Length]);
    private static torch.Tensor Column(params float[] v) => torch.tensor(v, [1, v.Length, 1]);
    private static float[] Values(torch.Tensor t) => t.contiguous().data<float>().ToArray();

    private static void AssertValues(double[] expected, torch.Tensor actual, int precision = 6)
    {
        var a = Values(actual);
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++) Assert.Equal(expected[i], a[i], precision);
    }

    [Fact]
    public void DownscaleByTwoUsesTheWidenedTriangle()
    {
        // Scale 2 → support 2: out0 taps x=0..2 with triangle((x − 1 + 0.5)/2) = 0.75, 0.75, 0.25 → 3/7, 3/7, 1/7;
        // out1 taps x=1..3 → 1/7, 3/7, 3/7.
        float[] a = [0.1f, 0.7f, 0.35f, 0.9f];
        using var x = Row(a);
        using var y = ImageTransforms.Resize(x, 1, 2);
        AssertValues([(3 * a[0] + 3 * a[1] + a[2]) / 7.0, (a[1] + 3 * a[2] + 3 * a[3]) / 7.0], y);
        // Same along the height.
        using var xc = Column(a);
        using var yc = ImageTransforms.Resize(xc, 2, 1);
        AssertValues([(3 * a[0] + 3 * a[1] + a[2]) / 7.0, (a[1] + 3 * a[2] + 3 * a[3]) / 7.0], yc);
    }

    [Fact]
    public void DownscaleByThreeAndTwoDimensionsAreSeparable()
    {
        // 3 → 1: support 3, centre 1.5, weights triangle((x − 1)/3) = 2/3, 1, 2/3 → 2/7, 3/7, 2/7.
        float[] v = [0.2f, 0.5f, 0.8f, 0.1f, 0.4f, 0.9f, 0.3f, 0.6f, 0.0f];
        using var x = torch.tensor(v, [1, 3, 3]);
        using var y = ImageTransforms.Resize(x, 1, 1);
        double[] w = [2 / 7.0, 3 / 7.0, 2 / 7.0];
        double expected = 0;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) expected += w[i] * w[j] * v[3 * i + j];
        AssertValues([expected], y);
    }

    [Fact]
    public void UpscaleByTwoIsPlainBilinearWithClampedEdges()
    {
        // 2 → 4: scale 0.5, support 1: out = a0, 0.75a0 + 0.25a1, 0.25a0 + 0.75a1, a1.
        using var x = Row(0.2f, 1.0f);
        using var y = ImageTransforms.Resize(x, 1, 4);
        AssertValues([0.2, 0.4, 0.8, 1.0], y);
    }

    [Fact]
    public void SameSizeIsIdentity()
    {
        using var gen = new torch.Generator(3);
        using var x = torch.rand([3, 9, 13], generator: gen);
        foreach (bool pil in new[] { false, true })
        {
            using var y = ImageTransforms.Resize(x, 9, 13, pil);
            Assert.True(Same(y, x));
            Assert.NotEqual(x.Handle, y.Handle);
        }
        using var q = (x * 255).round() / 255;
        using var z = ImageTransforms.ResizeShortSide(q, 9);
        Assert.True(Same(z, q));
    }

    // Reference outputs of Pillow 9.4 `Image.fromarray(a).resize((w, h), Image.BILINEAR)` for one 6×5 RGB uint8 image.
    private static readonly byte[] PilInput = [139, 74, 229, 241, 169, 65, 6, 160, 149, 106, 38, 175, 188, 205, 175, 229, 98, 249, 10, 148, 95, 86, 147, 198, 66, 39, 106, 213, 171, 45, 167, 57, 69, 81, 55, 14, 153, 178, 215, 76, 52, 39, 250, 72, 215, 50, 161, 223, 112, 172, 161, 233, 38, 17, 89, 1, 221, 6, 242, 127, 143, 6, 60, 210, 94, 25, 166, 33, 249, 189, 12, 204, 33, 57, 124, 30, 199, 149, 202, 119, 72, 220, 3, 209, 122, 136, 147, 77, 133, 82];

    public static TheoryData<int, int, byte[]> PilReferences => new()
    {
        { 4, 3, [118, 126, 153, 92, 124, 127, 147, 112, 124, 171, 103, 141, 90, 126, 154, 138, 83, 133, 134, 127, 148, 170, 66, 96, 43, 102, 156, 129, 116, 98, 186, 62, 143, 131, 85, 155] },
        { 9, 7, [139, 74, 229, 190, 122, 147, 202, 167, 79, 45, 162, 135, 56, 99, 162, 120, 66, 175, 174, 177, 175, 209, 152, 212, 229, 98, 249, 65, 116, 152, 109, 137, 147, 134, 145, 138, 59, 102, 127, 104, 102, 113, 169, 115, 103, 175, 119, 112, 160, 97, 115, 144, 73, 115, 51, 157, 129, 67, 139, 141, 89, 108, 150, 112, 60, 140, 143, 108, 117, 164, 155, 96, 154, 103, 95, 138, 70, 55, 124, 50, 15, 153, 178, 215, 115, 115, 127, 105, 55, 68, 221, 69, 186, 150, 117, 219, 60, 163, 213, 102, 170, 171, 173, 105, 89, 233, 38, 17, 107, 52, 219, 67, 120, 161, 51, 161, 102, 149, 52, 104, 169, 69, 93, 162, 107, 105, 153, 79, 200, 177, 46, 188, 202, 19, 151, 65, 25, 179, 41, 125, 158, 42, 196, 125, 143, 82, 77, 192, 55, 85, 203, 59, 121, 158, 73, 188, 145, 71, 179, 141, 64, 152, 33, 57, 124, 32, 128, 137, 59, 186, 136, 173, 132, 85, 211, 61, 141, 204, 25, 199, 138, 114, 157, 100, 135, 115, 77, 133, 82] },
        { 2, 5, [140, 127, 141, 155, 131, 190, 78, 123, 130, 144, 83, 54, 136, 102, 150, 144, 123, 147, 87, 104, 121, 180, 40, 158, 98, 119, 131, 145, 100, 137] },
    };

    [Theory]
    [MemberData(nameof(PilReferences))]
    public void EightBitPathMatchesPillowExactly(int width, int height, byte[] expected)
    {
        using var x = ImageTransforms.ToTensor(PilInput, 5, 6);
        using var y = ImageTransforms.Resize(x, height, width, pil8Bit: true);
        using var e = ImageTransforms.ToTensor(expected, height, width);
        Assert.True(Same(y, e), $"differs from Pillow by up to {(y - e).abs().max().item<float>() * 255} levels");
        // The float path stays within one level of it.
        using var f = ImageTransforms.Resize(x, height, width, pil8Bit: false);
        Assert.True((f - e).abs().max().item<float>() * 255 <= 1.0001f);
    }

    [Theory]
    [InlineData(256, 256, 256, 256, 256)]
    [InlineData(180, 256, 256, 256, 364)]   // int(256·256/180) = 364 (truncated)
    [InlineData(300, 200, 256, 384, 256)]
    [InlineData(64, 64, 256, 256, 256)]
    [InlineData(333, 500, 224, 224, 336)]   // 336.33 → 336
    public void ShortSideSizeFollowsTorchvision(int h, int w, int size, int eh, int ew)
    {
        Assert.Equal((eh, ew), ImageTransforms.ShortSideSize(h, w, size));
    }

    [Theory]
    [InlineData(256, 224, 16)]
    [InlineData(257, 224, 16)]   // round(16.5) = 16 (Python rounds half to even)
    [InlineData(259, 224, 18)]   // round(17.5) = 18
    [InlineData(255, 224, 16)]   // round(15.5) = 16
    public void CenterCropOffsetsFollowTorchvision(int size, int crop, int offset)
    {
        using var rows = torch.arange(size, dtype: torch.ScalarType.Float32).reshape(1, size, 1).expand(1, size, size).contiguous();
        using var cols = rows.transpose(1, 2).contiguous();
        using var r = ImageTransforms.CenterCrop(rows, crop);
        using var c = ImageTransforms.CenterCrop(cols, crop);
        Assert.Equal(new long[] { 1, crop, crop }, r.shape);
        Assert.Equal(offset, r[0, 0, 0].item<float>());
        Assert.Equal(offset, c[0, 0, 0].item<float>());
        Assert.Equal(offset + crop - 1, r[0, crop - 1, 0].item<float>());
    }

    [Fact]
    public void CenterCropPadsSmallImagesWithZeros()
    {
        using var x = torch.ones(1, 2, 3);
        using var y = ImageTransforms.CenterCrop(x, 4, 4);
        // Width 3 → 4: left pad 0, right pad 1; height 2 → 4: 1 and 1.
        float[] expected =
        [
            0, 0, 0, 0,
            1, 1, 1, 0,
            1, 1, 1, 0,
            0, 0, 0, 0,
        ];
        Assert.Equal(expected, Values(y));
    }

    [Fact]
    public void ToTensorAndNormalize()
    {
        using var t = ImageTransforms.ToTensor(new byte[] { 0, 255, 51, 102, 204, 255 }, 1, 2);
        Assert.Equal(new long[] { 3, 1, 2 }, t.shape);
        Assert.Equal(new[] { 0f, 102 / 255f, 1f, 204 / 255f, 51 / 255f, 1f }, Values(t));
        using var n = ImageTransforms.Normalize(t, [0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f]);
        AssertValues([-1, 2 * 102 / 255.0 - 1, 1, 2 * 204 / 255.0 - 1, 2 * 51 / 255.0 - 1, 1], n);
    }

    [Fact]
    public void FineXtractPreprocessingOfARealImage()
    {
        var file = ImageIO.ListImages(Path.Combine(Fixtures.Data, "wikiart", "claude-monet"))[0];
        using var img = ImageIO.Load(file);
        using var x = DescriptorPreprocessing.FineXtract.Apply(img);
        Assert.Equal(new long[] { 3, 224, 224 }, x.shape);
        Assert.True(x.min().item<float>() >= -1f && x.max().item<float>() <= 1f);
        Assert.True(x.min().item<float>() < -0.5f && x.max().item<float>() > 0.5f);
        // 256×256 input: the resize is the identity, so this is exactly the centre 224×224 of (2x − 1).
        using var expected = img[.., 16..240, 16..240] * 2 - 1;
        Assert.True((x - expected).abs().max().item<float>() < 1e-6f);

        using var s = DescriptorPreprocessing.Sscd.Apply(img);
        Assert.Equal(new long[] { 3, 288, 288 }, s.shape);

        var small = ImageIO.ListImages(Path.Combine(Fixtures.Data, "pretrain", "tinyimagenet", "images"))[0];
        using var smallImg = ImageIO.Load(small);
        Assert.Equal(64, smallImg.shape[1]);
        using var up = DescriptorPreprocessing.FineXtract.Apply(smallImg);
        Assert.Equal(new long[] { 3, 224, 224 }, up.shape);
    }
}
