using System.Buffers.Binary;
using System.Runtime.InteropServices;
using FineXtract.Extraction.Imaging;
using SkiaSharp;
using TorchSharp;
using Xunit.Abstractions;

using static FineXtract.Tests.Exact;

namespace FineXtract.Tests.Imaging;

public class ImageIOTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fx-imageio-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string TempPath(string name) => Path.Combine(_dir, name);

    private static SKBitmap Bitmap(byte[] pixels, int width, int height, SKColorType type, SKAlphaType alpha)
    {
        var bitmap = new SKBitmap(new SKImageInfo(width, height, type, alpha));
        Assert.Equal(pixels.Length, bitmap.ByteCount);
        Marshal.Copy(pixels, 0, bitmap.GetPixels(), pixels.Length);
        return bitmap;
    }

    private static byte[] Encode(byte[] pixels, int width, int height, SKColorType type, SKAlphaType alpha, SKEncodedImageFormat format, int quality = 100)
    {
        using var bitmap = Bitmap(pixels, width, height, type, alpha);
        using var data = bitmap.Encode(format, quality);
        Assert.NotNull(data);
        return data.ToArray();
    }

    [Fact]
    public void PngRoundTripIsExactForUint8Values()
    {
        using var gen = new torch.Generator(11);
        using var bytes = torch.randint(0, 256, [3, 7, 5], generator: gen);
        using var image = bytes.to_type(torch.ScalarType.Float32) / 255;
        var path = TempPath("sub/dir/round.png");
        ImageIO.SavePng(image, path);
        using var back = ImageIO.Load(path);
        Assert.Equal(new long[] { 3, 7, 5 }, back.shape);
        Assert.True(Same(back, image), "PNG round trip changed a value");

        // [H,W,3] layout is accepted too and gives the same file content.
        var hwcPath = TempPath("hwc.png");
        using var hwc = image.permute(1, 2, 0).contiguous();
        ImageIO.SavePng(hwc, hwcPath);
        using var back2 = ImageIO.Load(hwcPath);
        Assert.True(Same(back2, image));
    }

    [Fact]
    public void SaveClampsAndRoundsToNearest()
    {
        Assert.Equal(0, ImageIO.ToByte(-0.3f));
        Assert.Equal(0, ImageIO.ToByte(float.NaN));
        Assert.Equal(255, ImageIO.ToByte(1.7f));
        Assert.Equal(0, ImageIO.ToByte(0.49f / 255));
        Assert.Equal(1, ImageIO.ToByte(0.51f / 255));
        Assert.Equal(128, ImageIO.ToByte(0.5f));   // 127.5 → 128 (half to even, as NumPy)
        Assert.Equal(254, ImageIO.ToByte(253.6f / 255));

        using var image = torch.tensor(new float[] { -1, 0.5f, 2, 0.2f, 0.9999f, float.NaN }, [3, 1, 2]);
        var path = TempPath("clamp.png");
        ImageIO.SavePng(image, path);
        using var back = ImageIO.Load(path);
        var v = back.data<float>().ToArray().Select(x => (int)MathF.Round(x * 255)).ToArray();
        Assert.Equal(new[] { 0, 128, 255, 51, 255, 0 }, v);
    }

    [Fact]
    public void RejectsNonImageTensors()
    {
        using var bad = torch.zeros(4, 5, 6);
        Assert.Throws<FineXtractException>(() => ImageIO.SavePng(bad, TempPath("bad.png")));
    }

    [Fact]
    public void GreyscalePngLoadsAsRgb()
    {
        var grey = new byte[] { 0, 40, 80, 120, 160, 200 };
        var path = TempPath("grey.png");
        File.WriteAllBytes(path, Encode(grey, 3, 2, SKColorType.Gray8, SKAlphaType.Opaque, SKEncodedImageFormat.Png));
        using var img = ImageIO.Load(path);
        Assert.Equal(new long[] { 3, 2, 3 }, img.shape);
        var expected = grey.Select(b => b / 255f).ToArray();
        for (int c = 0; c < 3; c++)
            Assert.Equal(expected, img[c].contiguous().data<float>().ToArray());
    }

    [Fact]
    public void AlphaIsCompositedOnWhite()
    {
        byte[] rgba =
        [
            255, 0, 0, 0,       // fully transparent red → white
            0, 0, 0, 128,       // half-transparent black → 127/255 grey
            200, 100, 50, 255,  // opaque → unchanged
            10, 20, 30, 51,     // 20% opaque
        ];
        var path = TempPath("alpha.png");
        File.WriteAllBytes(path, Encode(rgba, 2, 2, SKColorType.Rgba8888, SKAlphaType.Unpremul, SKEncodedImageFormat.Png));
        using var img = ImageIO.Load(path);
        Assert.Equal(new long[] { 3, 2, 2 }, img.shape);
        float At(int c, int i) => img[c, i / 2, i % 2].item<float>();
        for (int c = 0; c < 3; c++) Assert.Equal(1f, At(c, 0), 6);
        for (int c = 0; c < 3; c++) Assert.Equal(127f / 255, At(c, 1), 6);
        Assert.Equal(new[] { 200f / 255, 100f / 255, 50f / 255 }, Enumerable.Range(0, 3).Select(c => At(c, 2)).ToArray());
        for (int c = 0; c < 3; c++)
        {
            float v = rgba[12 + c];
            Assert.Equal((v * 51 + 255 * 204) / (255f * 255f), At(c, 3), 6);
        }
    }

    [Fact]
    public void WebpLosslessAndBmpLoad()
    {
        var rgba = new byte[4 * 3 * 2];
        for (int i = 0; i < 6; i++) { rgba[4 * i] = (byte)(40 * i); rgba[4 * i + 1] = (byte)(255 - 30 * i); rgba[4 * i + 2] = 7; rgba[4 * i + 3] = 255; }
        byte[] webp;
        using (var bitmap = Bitmap(rgba, 3, 2, SKColorType.Rgba8888, SKAlphaType.Opaque))
        using (var pixmap = bitmap.PeekPixels())
        using (var data = pixmap.Encode(new SKWebpEncoderOptions(SKWebpEncoderCompression.Lossless, 100)))
        {
            Assert.NotNull(data);
            webp = data.ToArray();
        }
        var webpPath = TempPath("x.webp");
        File.WriteAllBytes(webpPath, webp);
        using var w = ImageIO.Load(webpPath);
        for (int i = 0; i < 6; i++)
            for (int c = 0; c < 3; c++)
                Assert.Equal(rgba[4 * i + c] / 255f, w[c, i / 3, i % 3].item<float>());

        // A 24-bit bottom-up BMP, 2×2: rows padded to 4 bytes, pixels stored B,G,R.
        var bmp = new List<byte>();
        void U16(int v) { bmp.Add((byte)v); bmp.Add((byte)(v >> 8)); }
        void U32(int v) { U16(v & 0xFFFF); U16(v >> 16); }
        bmp.AddRange("BM"u8.ToArray()); U32(54 + 16); U32(0); U32(54);
        U32(40); U32(2); U32(2); U16(1); U16(24); U32(0); U32(16); U32(2835); U32(2835); U32(0); U32(0);
        bmp.AddRange(new byte[] { 255, 0, 0, 0, 255, 0, 0, 0 });     // bottom row: blue, green (+2 padding)
        bmp.AddRange(new byte[] { 0, 0, 255, 255, 255, 255, 0, 0 }); // top row: red, white
        var bmpPath = TempPath("x.bmp");
        File.WriteAllBytes(bmpPath, bmp.ToArray());
        using var b = ImageIO.Load(bmpPath);
        Assert.Equal(new long[] { 3, 2, 2 }, b.shape);
        Assert.Equal(new float[] { 1, 0, 0 }, new[] { b[0, 0, 0].item<float>(), b[1, 0, 0].item<float>(), b[2, 0, 0].item<float>() });
        Assert.Equal(new float[] { 1, 1, 1 }, new[] { b[0, 0, 1].item<float>(), b[1, 0, 1].item<float>(), b[2, 0, 1].item<float>() });
        Assert.Equal(new float[] { 0, 0, 1 }, new[] { b[0, 1, 0].item<float>(), b[1, 1, 0].item<float>(), b[2, 1, 0].item<float>() });
        Assert.Equal(new float[] { 0, 1, 0 }, new[] { b[0, 1, 1].item<float>(), b[1, 1, 1].item<float>(), b[2, 1, 1].item<float>() });
    }

    /// <summary>
    /// An Adobe CMYK JPEG (16×8: left half C0 M255 Y255 K0, right half C255 M0 Y0 K64) written by Pillow 9.4;
    /// Pillow reads it back as RGB (255,0,0) and (0,191,191).
    /// </summary>
    private const string CmykJpeg = "/9j/7gAOQWRvYmUAZAAAAAAA/9sAQwABAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB/8AAFAgACAAQBEMRAE0RAFkRAEsRAP/EAB8AAAEFAQEBAQEBAAAAAAAAAAABAgMEBQYHCAkKC//EALUQAAIBAwMCBAMFBQQEAAABfQECAwAEEQUSITFBBhNRYQcicRQygZGhCCNCscEVUtHwJDNicoIJChYXGBkaJSYnKCkqNDU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6g4SFhoeIiYqSk5SVlpeYmZqio6Slpqeoqaqys7S1tre4ubrCw8TFxsfIycrS09TV1tfY2drh4uPk5ebn6Onq8fLz9PX29/j5+v/aAA4EQwBNAFkASwAAPwD+/iv8/wDr/P8A6/v4r/AHr/f4r/f4r+f+v//Z";

    [Fact]
    public void CmykJpegLoadsAsRgb()
    {
        using var img = ImageIO.Decode(Convert.FromBase64String(CmykJpeg), "cmyk.jpg");
        Assert.Equal(new long[] { 3, 8, 16 }, img.shape);
        float[] left = [.. Enumerable.Range(0, 3).Select(c => img[c, 4, 2].item<float>() * 255)];
        float[] right = [.. Enumerable.Range(0, 3).Select(c => img[c, 4, 13].item<float>() * 255)];
        log.WriteLine($"CMYK left {string.Join(",", left)} right {string.Join(",", right)}");
        Assert.Equal(new float[] { 255, 0, 0 }, left.Select(v => MathF.Round(v)).ToArray());
        for (int c = 0; c < 3; c++) Assert.InRange(right[c], new[] { 0f, 191f, 191f }[c] - 3, new[] { 0f, 191f, 191f }[c] + 3);
    }

    /// <summary>Inserts an EXIF APP1 segment with the given orientation after the JPEG's APP0 (JFIF) segment.</summary>
    private static byte[] WithExifOrientation(byte[] jpeg, ushort orientation)
    {
        byte[] app1 =
        [
            0xFF, 0xE1, 0, 34, (byte)'E', (byte)'x', (byte)'i', (byte)'f', 0, 0,
            (byte)'M', (byte)'M', 0, 0x2A, 0, 0, 0, 8,          // big-endian TIFF header, IFD at 8
            0, 1,                                             // one entry
            0x01, 0x12, 0, 3, 0, 0, 0, 1, (byte)(orientation >> 8), (byte)orientation, 0, 0, // Orientation, SHORT ×1
            0, 0, 0, 0,                                       // no next IFD
        ];
        int at = 2;
        if (jpeg[2] == 0xFF && jpeg[3] == 0xE0) at = 4 + BinaryPrimitives.ReadUInt16BigEndian(jpeg.AsSpan(4));
        return [.. jpeg[..at], .. app1, .. jpeg[at..]];
    }

    [Fact]
    public void ExifOrientationIsApplied()
    {
        // 16 wide × 8 high: left half red, right half blue.
        var rgba = new byte[16 * 8 * 4];
        for (int y = 0; y < 8; y++)
            for (int x = 0; x < 16; x++)
            {
                int i = 4 * (y * 16 + x);
                rgba[i] = (byte)(x < 8 ? 255 : 0);
                rgba[i + 2] = (byte)(x < 8 ? 0 : 255);
                rgba[i + 3] = 255;
            }
        var jpeg = Encode(rgba, 16, 8, SKColorType.Rgba8888, SKAlphaType.Opaque, SKEncodedImageFormat.Jpeg, 95);
        using (var plain = ImageIO.Decode(jpeg, "plain"))
        {
            Assert.Equal(new long[] { 3, 8, 16 }, plain.shape);
            Assert.True(plain[0, 4, 2].item<float>() > 0.9f);
        }
        // 6 = rotate 90° clockwise for display: the left (red) half ends up on top.
        using (var rotated = ImageIO.Decode(WithExifOrientation(jpeg, 6), "rotated"))
        {
            Assert.Equal(new long[] { 3, 16, 8 }, rotated.shape);
            Assert.True(rotated[0, 2, 4].item<float>() > 0.9f && rotated[2, 2, 4].item<float>() < 0.1f, "top should be red");
            Assert.True(rotated[2, 13, 4].item<float>() > 0.9f && rotated[0, 13, 4].item<float>() < 0.1f, "bottom should be blue");
        }
        // 8 = rotate 90° counter-clockwise: red at the bottom.
        using (var rotated = ImageIO.Decode(WithExifOrientation(jpeg, 8), "rotated8"))
        {
            Assert.Equal(new long[] { 3, 16, 8 }, rotated.shape);
            Assert.True(rotated[0, 13, 4].item<float>() > 0.9f, "bottom should be red");
        }
        // 2 = mirrored: red on the right.
        using (var mirrored = ImageIO.Decode(WithExifOrientation(jpeg, 2), "mirrored"))
        {
            Assert.Equal(new long[] { 3, 8, 16 }, mirrored.shape);
            Assert.True(mirrored[0, 4, 13].item<float>() > 0.9f, "right should be red");
        }
    }

    [Fact]
    public void RealDataImageLoads()
    {
        var file = ImageIO.ListImages(Path.Combine(Fixtures.Data, "dreambooth", "dog"))[0];
        using var img = ImageIO.Load(file);
        Assert.Equal(new long[] { 3, 256, 256 }, img.shape);
        Assert.InRange(img.min().item<float>(), 0f, 1f);
        Assert.InRange(img.max().item<float>(), 0f, 1f);
        Assert.True(img.std().item<float>() > 0.05f);
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("empty")]
    [InlineData("garbage")]
    [InlineData("truncated")]
    [InlineData("folder")]
    public void BadFilesGiveOneLineErrors(string kind)
    {
        string path = TempPath($"bad-{kind}.jpg");
        switch (kind)
        {
            case "empty": File.WriteAllBytes(path, []); break;
            case "garbage": File.WriteAllBytes(path, [.. Enumerable.Range(0, 500).Select(i => (byte)(i * 37 + 11))]); break;
            case "truncated":
                var real = File.ReadAllBytes(ImageIO.ListImages(Path.Combine(Fixtures.Data, "dreambooth", "dog"))[0]);
                File.WriteAllBytes(path, real[..(real.Length / 3)]);
                break;
            case "folder": Directory.CreateDirectory(path); break;
        }
        var e = Assert.ThrowsAny<Exception>(() => ImageIO.Load(path).Dispose());
        log.WriteLine($"{kind}: {e.GetType().Name}: {e.Message}");
        Assert.IsType<FineXtractException>(e);
        Assert.Contains(path, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void ListImagesIsOrdinalAndFiltered()
    {
        var folder = TempPath("list");
        Directory.CreateDirectory(folder);
        foreach (var name in new[] { "b.png", "B.jpg", "10.jpg", "2.JPEG", "a.webp", "z.bmp", "notes.txt", ".hidden.png", "c.gif" })
            File.WriteAllBytes(Path.Combine(folder, name), [0]);
        Directory.CreateDirectory(Path.Combine(folder, "sub.png"));
        var names = ImageIO.ListImages(folder).Select(Path.GetFileName).ToArray();
        Assert.Equal(new[] { "10.jpg", "2.JPEG", "B.jpg", "a.webp", "b.png", "z.bmp" }, names);
        Assert.Throws<FineXtractException>(() => ImageIO.ListImages(TempPath("nope")));
        Assert.Throws<FineXtractException>(() => ImageIO.ListImages(Path.Combine(folder, "b.png")));
    }
}
