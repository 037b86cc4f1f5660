using TorchSharp;
using static TorchSharp.torch;

namespace FineXtract.Extraction.Imaging;

/// <summary>
/// torchvision-style transforms on <c>[C,H,W]</c> float images: <c>Resize(int)</c> with PIL's antialiased bilinear
/// filter, <c>CenterCrop</c>, <c>ToTensor</c>, <c>Normalize</c>.
/// </summary>
public static class ImageTransforms
{
    /// <summary>
    /// torchvision's output size for <c>Resize(size)</c> with an int: the short side becomes <paramref name="size"/>,
    /// the long side <c>int(size · long / short)</c> (truncated, as Python's <c>int()</c>).
    /// </summary>
    public static (int Height, int Width) ShortSideSize(int height, int width, int size)
    {
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size), "size must be positive");
        if (height <= 0 || width <= 0) throw new ArgumentException($"empty image {height}x{width}");
        int shortSide = Math.Min(height, width), longSide = Math.Max(height, width);
        int newLong = (int)(size * (double)longSide / shortSide);
        return width <= height ? (newLong, size) : (size, newLong);
    }

    /// <summary>
    /// <c>torchvision.transforms.Resize(size)</c> on a PIL image: short side to <paramref name="size"/>, bilinear with
    /// antialiasing (see <see cref="Resize"/>). Returns a copy when the size does not change.
    /// </summary>
    public static Tensor ResizeShortSide(Tensor image, int size, bool pil8Bit = true)
    {
        CheckImage(image);
        var (h, w) = ShortSideSize((int)image.shape[1], (int)image.shape[2], size);
        return Resize(image, h, w, pil8Bit);
    }

    /// <summary>
    /// Resizes a <c>[C,H,W]</c> image with PIL's separable triangle (bilinear) filter whose support grows with the
    /// downscale factor (antialiasing), horizontal pass first, then vertical; an axis whose size does not change is
    /// not resampled. With <paramref name="pil8Bit"/> the image is quantised to 8 bits and resampled with Pillow's
    /// fixed-point arithmetic (22 fractional bits, 8-bit rounding after each pass), i.e. exactly what
    /// <c>Image.resize(..., BILINEAR)</c> does to an 8-bit RGB image; the result is again in multiples of 1/255.
    /// Without it the arithmetic is in double precision on the float values (PIL's mode "F").
    /// </summary>
    public static Tensor Resize(Tensor image, int height, int width, bool pil8Bit = false)
    {
        CheckImage(image);
        if (height <= 0 || width <= 0) throw new ArgumentOutOfRangeException(nameof(height), $"bad output size {height}x{width}");
        int channels = (int)image.shape[0], inH = (int)image.shape[1], inW = (int)image.shape[2];
        if (inH == height && inW == width) return image.to_type(ScalarType.Float32, copy: true);

        float[] src;
        using (var scope = torch.NewDisposeScope())
            src = image.detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
        float[] dst = pil8Bit
            ? TriangleResampler.Resize8Bit(src, channels, inH, inW, height, width)
            : TriangleResampler.ResizeFloat(src, channels, inH, inW, height, width);
        var result = torch.tensor(dst, [channels, height, width]);
        return image.device.type == DeviceType.CPU ? result : Move(result, image.device);
    }

    /// <summary>
    /// <c>torchvision.transforms.CenterCrop(size)</c>: offsets <c>round((H − h) / 2)</c> with Python's round (half to
    /// even); an image smaller than the crop is first padded with zeros as torchvision does.
    /// </summary>
    public static Tensor CenterCrop(Tensor image, int height, int width)
    {
        CheckImage(image);
        if (height <= 0 || width <= 0) throw new ArgumentOutOfRangeException(nameof(height), $"bad crop size {height}x{width}");
        using var scope = torch.NewDisposeScope();
        var img = image;
        long inH = img.shape[1], inW = img.shape[2];
        if (width > inW || height > inH)
        {
            long left = width > inW ? (width - inW) / 2 : 0, top = height > inH ? (height - inH) / 2 : 0;
            long right = width > inW ? (width - inW + 1) / 2 : 0, bottom = height > inH ? (height - inH + 1) / 2 : 0;
            img = nn.functional.pad(img, [left, right, top, bottom], PaddingModes.Constant, 0);
            inH = img.shape[1];
            inW = img.shape[2];
        }
        long cropTop = (long)Math.Round((inH - height) / 2.0, MidpointRounding.ToEven);
        long cropLeft = (long)Math.Round((inW - width) / 2.0, MidpointRounding.ToEven);
        return img[.., TensorIndex.Slice(cropTop, cropTop + height), TensorIndex.Slice(cropLeft, cropLeft + width)]
            .contiguous().clone().MoveToOuterDisposeScope();
    }

    /// <summary>Square centre crop.</summary>
    public static Tensor CenterCrop(Tensor image, int size) => CenterCrop(image, size, size);

    /// <summary><c>ToTensor</c>: interleaved 8-bit pixels <c>[H,W,C]</c> → float <c>[C,H,W]</c> / 255.</summary>
    public static Tensor ToTensor(ReadOnlySpan<byte> hwc, int height, int width, int channels = 3)
    {
        if ((long)height * width * channels != hwc.Length)
            throw new ArgumentException($"{hwc.Length} bytes do not make a {height}x{width}x{channels} image");
        int plane = height * width;
        var chw = new float[hwc.Length];
        for (int i = 0; i < plane; i++)
            for (int c = 0; c < channels; c++)
                chw[c * plane + i] = hwc[i * channels + c] / 255f;
        return torch.tensor(chw, [channels, height, width]);
    }

    /// <summary><c>Normalize(mean, std)</c>: <c>(x − mean[c]) / std[c]</c> per channel of a <c>[C,H,W]</c> or <c>[N,C,H,W]</c> tensor.</summary>
    public static Tensor Normalize(Tensor image, IReadOnlyList<float> mean, IReadOnlyList<float> std)
    {
        int cdim = (int)image.dim() - 3;
        if (cdim < 0 || image.shape[cdim] != mean.Count || mean.Count != std.Count)
            throw new ArgumentException($"Normalize: {mean.Count} means/{std.Count} stds for an image of shape [{string.Join(",", image.shape)}]");
        if (std.Any(s => s == 0)) throw new ArgumentException("Normalize: std must be non-zero");
        using var scope = torch.NewDisposeScope();
        var m = torch.tensor(mean.ToArray(), [mean.Count, 1, 1]).to(image.device);
        var s = torch.tensor(std.ToArray(), [std.Count, 1, 1]).to(image.device);
        return ((image.to_type(ScalarType.Float32) - m) / s).MoveToOuterDisposeScope();
    }

    private static Tensor Move(Tensor t, Device device)
    {
        var moved = t.to(device);
        t.Dispose();
        return moved;
    }

    private static void CheckImage(Tensor image)
    {
        if (image.dim() != 3 || image.shape[1] <= 0 || image.shape[2] <= 0)
            throw new ArgumentException($"expected an image tensor [C,H,W], got [{string.Join(",", image.shape)}]");
    }
}

/// <summary>
/// Separable triangle-filter resampler with the same coefficients as Pillow's <c>ImagingResample</c>
/// (BILINEAR, support 1 scaled by the downscale factor, weights normalised to sum 1).
/// </summary>
internal static class TriangleResampler
{
    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Per output index: first input index, number of taps and the normalised weights.</summary>
    internal readonly record struct Coefficients(int[] Start, int[] Count, double[][] Weights);

    private static double Triangle(double x)
    {
        if (x < 0) x = -x;
        return x < 1 ? 1 - x : 0;
    }

    internal static Coefficients Compute(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(scale, 1.0);
        double support = 1.0 * filterScale;
        var start = new int[outSize];
        var count = new int[outSize];
        var weights = new double[outSize][];
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = (xx + 0.5) * scale;
            double ss = 1.0 / filterScale;
            int xmin = Math.Max((int)(center - support + 0.5), 0);        // C casts truncate toward zero
            int xmax = Math.Min((int)(center + support + 0.5), inSize) - xmin;
            var k = new double[Math.Max(xmax, 0)];
            double ww = 0;
            for (int x = 0; x < k.Length; x++)
            {
                k[x] = Triangle((x + xmin - center + 0.5) * ss);
                ww += k[x];
            }
            if (ww != 0)
                for (int x = 0; x < k.Length; x++) k[x] /= ww;
            start[xx] = xmin;
            count[xx] = k.Length;
            weights[xx] = k;
        }
        return new Coefficients(start, count, weights);
    }

    internal static float[] ResizeFloat(float[] src, int channels, int inH, int inW, int outH, int outW)
    {
        float[] cur = src;
        int curW = inW;
        if (outW != inW)
        {
            var cx = Compute(inW, outW);
            var tmp = new float[channels * inH * outW];
            for (int row = 0; row < channels * inH; row++)
            {
                int si = row * inW, di = row * outW;
                for (int xx = 0; xx < outW; xx++)
                {
                    double acc = 0;
                    var k = cx.Weights[xx];
                    int s0 = si + cx.Start[xx];
                    for (int t = 0; t < k.Length; t++) acc += cur[s0 + t] * k[t];
                    tmp[di + xx] = (float)acc;
                }
            }
            cur = tmp;
            curW = outW;
        }
        if (outH != inH)
        {
            var cy = Compute(inH, outH);
            var tmp = new float[channels * outH * curW];
            for (int c = 0; c < channels; c++)
            {
                int sp = c * inH * curW, dp = c * outH * curW;
                for (int yy = 0; yy < outH; yy++)
                {
                    var k = cy.Weights[yy];
                    int y0 = cy.Start[yy];
                    for (int x = 0; x < curW; x++)
                    {
                        double acc = 0;
                        for (int t = 0; t < k.Length; t++) acc += cur[sp + (y0 + t) * curW + x] * k[t];
                        tmp[dp + yy * curW + x] = (float)acc;
                    }
                }
            }
            cur = tmp;
        }
        return ReferenceEquals(cur, src) ? (float[])src.Clone() : cur;
    }

    /// <summary>Pillow's 8-bit path: fixed-point weights, rounding and clipping to 0..255 after each pass.</summary>
    internal static float[] Resize8Bit(float[] src, int channels, int inH, int inW, int outH, int outW)
    {
        var cur = new int[src.Length];
        for (int i = 0; i < src.Length; i++) cur[i] = Imaging.ImageIO.ToByte(src[i]);
        int curW = inW;
        if (outW != inW)
        {
            var (start, kk) = Fixed(Compute(inW, outW));
            var tmp = new int[channels * inH * outW];
            for (int row = 0; row < channels * inH; row++)
            {
                int si = row * inW, di = row * outW;
                for (int xx = 0; xx < outW; xx++)
                {
                    long ss = 1L << (PrecisionBits - 1);
                    var k = kk[xx];
                    int s0 = si + start[xx];
                    for (int t = 0; t < k.Length; t++) ss += (long)cur[s0 + t] * k[t];
                    tmp[di + xx] = Clip8(ss);
                }
            }
            cur = tmp;
            curW = outW;
        }
        if (outH != inH)
        {
            var (start, kk) = Fixed(Compute(inH, outH));
            var tmp = new int[channels * outH * curW];
            for (int c = 0; c < channels; c++)
            {
                int sp = c * inH * curW, dp = c * outH * curW;
                for (int yy = 0; yy < outH; yy++)
                {
                    var k = kk[yy];
                    int y0 = start[yy];
                    for (int x = 0; x < curW; x++)
                    {
                        long ss = 1L << (PrecisionBits - 1);
                        for (int t = 0; t < k.Length; t++) ss += (long)cur[sp + (y0 + t) * curW + x] * k[t];
                        tmp[dp + yy * curW + x] = Clip8(ss);
                    }
                }
            }
            cur = tmp;
        }
        var result = new float[cur.Length];
        for (int i = 0; i < cur.Length; i++) result[i] = cur[i] / 255f;
        return result;
    }

    private static (int[] Start, int[][] Kernels) Fixed(Coefficients c)
    {
        var kk = new int[c.Weights.Length][];
        for (int i = 0; i < kk.Length; i++)
        {
            var w = c.Weights[i];
            kk[i] = new int[w.Length];
            for (int t = 0; t < w.Length; t++)
                kk[i][t] = w[t] < 0 ? (int)(-0.5 + w[t] * (1 << PrecisionBits)) : (int)(0.5 + w[t] * (1 << PrecisionBits));
        }
        return (c.Start, kk);
    }

    private static int Clip8(long ss)
    {
        if (ss >= (1L << PrecisionBits << 8)) return 255;
        if (ss <= 0) return 0;
        return (int)(ss >> PrecisionBits);
    }
}
