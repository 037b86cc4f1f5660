using SkiaSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace FineXtract.Extraction.Imaging;

/// <summary>
/// Image files ↔ float tensors for the whole pipeline (SkiaSharp codecs, no colour management, like PIL).
/// Loaded images are RGB <c>[3,H,W]</c> float32 in [0,1]: greyscale is replicated, CMYK is converted by the
/// codec, alpha is composited on white, and the EXIF orientation is applied.
/// </summary>
public static class ImageIO
{
    /// <summary>File extensions (lower case, with the dot) that <see cref="ListImages"/> picks up.</summary>
    public static IReadOnlyList<string> Extensions { get; } = [".jpg", ".jpeg", ".png", ".webp", ".bmp"];

    private const long MaxPixels = 256L * 1024 * 1024;

    /// <summary>Loads an image file as an RGB float tensor <c>[3,H,W]</c> in [0,1].</summary>
    public static Tensor Load(string path)
    {
        if (Directory.Exists(path)) throw new FineXtractException($"{path}: is a folder, expected an image file");
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FineXtractException($"{path}: image file not found");
        }
        return Decode(bytes, path);
    }

    /// <summary>Decodes an encoded image (JPEG, PNG, WebP, BMP, …); <paramref name="what"/> names it in errors.</summary>
    public static Tensor Decode(byte[] bytes, string what = "image")
    {
        if (bytes.Length == 0) throw new FineXtractException($"{what}: empty file, not an image");
        using var data = SKData.CreateCopy(bytes);
        using var codec = SKCodec.Create(data)
            ?? throw new FineXtractException($"{what}: not a readable image (unknown format or corrupt header; JPEG, PNG, WebP and BMP are supported)");
        int width = codec.Info.Width, height = codec.Info.Height;
        if (width <= 0 || height <= 0 || (long)width * height > MaxPixels)
            throw new FineXtractException($"{what}: unsupported image size {width}x{height}");

        // Unpremultiplied RGBA, no colour space: the codec converts grey/CMYK/palette, nothing is colour-managed.
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var pixels = new byte[(long)width * height * 4];
        var result = codec.GetPixels(info, pixels);
        if (result != SKCodecResult.Success)
        {
            string why = result == SKCodecResult.IncompleteInput ? "truncated image data" : $"decoding failed ({result})";
            throw new FineXtractException($"{what}: {why}");
        }

        int plane = width * height;
        var chw = new float[3 * plane];
        for (int i = 0; i < plane; i++)
        {
            int a = pixels[4 * i + 3];
            for (int c = 0; c < 3; c++)
            {
                int v = pixels[4 * i + c];
                // As ToTensor: v / 255 (a true division); alpha composited on white: (v·a + 255·(255 − a)) / 255².
                chw[c * plane + i] = a == 255 ? v / 255f : (v * a + 255 * (255 - a)) / 65025f;
            }
        }
        using var scope = torch.NewDisposeScope();
        var raw = torch.tensor(chw, [3L, height, width]);
        return ApplyOrientation(raw, codec.EncodedOrigin).MoveToOuterDisposeScope();
    }

    /// <summary>Rotates/flips a decoded <c>[C,H,W]</c> image so that it displays upright (EXIF orientation 1–8).</summary>
    internal static Tensor ApplyOrientation(Tensor chw, SKEncodedOrigin origin) => origin switch
    {
        SKEncodedOrigin.TopRight => chw.flip(2),                             // 2: mirror horizontally
        SKEncodedOrigin.BottomRight => chw.flip(1, 2),                       // 3: rotate 180°
        SKEncodedOrigin.BottomLeft => chw.flip(1),                           // 4: mirror vertically
        SKEncodedOrigin.LeftTop => chw.transpose(1, 2).contiguous(),         // 5: transpose
        SKEncodedOrigin.RightTop => chw.transpose(1, 2).flip(2),             // 6: rotate 90° clockwise
        SKEncodedOrigin.RightBottom => chw.transpose(1, 2).flip(1, 2),       // 7: transverse
        SKEncodedOrigin.LeftBottom => chw.transpose(1, 2).flip(1),           // 8: rotate 90° counter-clockwise
        _ => chw.clone(),
    };

    /// <summary>
    /// Saves a float image in [0,1], <c>[3,H,W]</c> or <c>[H,W,3]</c> (a leading dimension of 3 is read as channels),
    /// as an 8-bit RGB PNG. Values are clamped and rounded like diffusers' <c>numpy_to_pil</c>:
    /// <c>(x·255).round()</c> (NumPy rounds halves to even; NaN is written as 0). Parent folders are created.
    /// </summary>
    public static void SavePng(Tensor image, string path)
    {
        var (rgba, width, height) = ToRgba8(image, path);
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        byte[] encoded;
        unsafe
        {
            fixed (byte* p = rgba)
            {
                using var pixmap = new SKPixmap(info, (IntPtr)p, width * 4);
                using var data = pixmap.Encode(SKEncodedImageFormat.Png, 100)
                    ?? throw new InvalidOperationException("SkiaSharp failed to encode a PNG");
                encoded = data.ToArray();
            }
        }
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        File.WriteAllBytes(path, encoded);
    }

    /// <summary>Encodes a float image in [0,1] as JPEG bytes (tests and tools: recompression robustness).</summary>
    public static byte[] EncodeJpeg(Tensor image, int quality)
    {
        var (rgba, width, height) = ToRgba8(image, "image");
        var info = new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque);
        unsafe
        {
            fixed (byte* p = rgba)
            {
                using var pixmap = new SKPixmap(info, (IntPtr)p, width * 4);
                using var data = pixmap.Encode(SKEncodedImageFormat.Jpeg, quality)
                    ?? throw new InvalidOperationException("SkiaSharp failed to encode a JPEG");
                return data.ToArray();
            }
        }
    }

    /// <summary>Quantises a float image exactly as <see cref="SavePng"/> does: RGBA bytes (alpha 255), width, height.</summary>
    internal static (byte[] Rgba, int Width, int Height) ToRgba8(Tensor image, string what)
    {
        if (image.dim() != 3 || (image.shape[0] != 3 && image.shape[2] != 3))
            throw new FineXtractException($"{what}: expected an image tensor [3,H,W] or [H,W,3], got [{string.Join(",", image.shape)}]");
        bool chwLayout = image.shape[0] == 3;
        using var scope = torch.NewDisposeScope();
        var hwc = (chwLayout ? image.permute(1, 2, 0) : image).detach().cpu().to_type(ScalarType.Float32).contiguous();
        int height = checked((int)hwc.shape[0]), width = checked((int)hwc.shape[1]);
        var values = hwc.data<float>().ToArray();
        var rgba = new byte[(long)width * height * 4];
        for (int i = 0, n = width * height; i < n; i++)
        {
            for (int c = 0; c < 3; c++) rgba[4 * i + c] = ToByte(values[3 * i + c]);
            rgba[4 * i + 3] = 255;
        }
        return (rgba, width, height);
    }

    /// <summary>clamp(x,0,1)·255 rounded half to even (NumPy's round), NaN → 0.</summary>
    internal static byte ToByte(float x)
    {
        if (!(x > 0f)) return 0;
        if (x >= 1f) return 255;
        return (byte)MathF.Round(x * 255f, MidpointRounding.ToEven);
    }

    /// <summary>
    /// The image files directly inside <paramref name="folder"/> (extensions in <see cref="Extensions"/>, any case,
    /// hidden files skipped), as full paths sorted by file name with ordinal comparison, so every run and machine
    /// sees the same order.
    /// </summary>
    public static IReadOnlyList<string> ListImages(string folder)
    {
        if (!Directory.Exists(folder))
            throw new FineXtractException(File.Exists(folder) ? $"{folder}: is a file, expected a folder of images" : $"{folder}: image folder not found");
        return Directory.EnumerateFiles(folder)
            .Where(f =>
            {
                string name = Path.GetFileName(f);
                return !name.StartsWith('.') && Extensions.Contains(Path.GetExtension(name).ToLowerInvariant());
            })
            .OrderBy(Path.GetFileName, StringComparer.Ordinal)
            .ToList();
    }
}
