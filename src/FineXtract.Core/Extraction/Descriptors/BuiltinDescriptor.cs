using FineXtract.Extraction.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace FineXtract.Extraction.Descriptors;

/// <summary>
/// A deterministic pixel descriptor that needs no model file, for demos and tests. It is NOT SSCD: its scores are
/// not comparable with the paper's. It behaves like a copy detector on small images: a JPEG-recompressed, slightly
/// blurred or few-pixel-shifted copy scores far higher against its original than another photo of the same subject
/// or another painting by the same artist.
/// <para>
/// Per image (after <see cref="Preprocessing"/>): antialiased bilinear resize to 32×32, then for each channel
/// (a) the 32×32 values and (b) their band-pass detail (32×32 minus its 8×8 version upsampled back), each made
/// zero-mean and unit-norm; the six parts are concatenated (6144 values) and L2-normalised. A dot product is thus the
/// mean of per-channel Pearson correlations of coarse layout and of detail, so it does not depend on the
/// normalisation constants, on global brightness/contrast per channel, or on the input size.
/// </para>
/// </summary>
public sealed class BuiltinDescriptor(DescriptorPreprocessing? preprocessing = null, int batchSize = 64)
    : ImageDescriptorBase(preprocessing ?? DescriptorPreprocessing.FineXtract, batchSize)
{
    public const int Grid = 32;
    public const int CoarseGrid = 8;
    private const int Parts = 6;

    public override string Name => "builtin-pixel (not SSCD)";
    public override bool IsSscd => false;
    public override int Dimension => Parts * Grid * Grid;

    protected override Tensor Forward(Tensor batch)
    {
        int n = (int)batch.shape[0], h = (int)batch.shape[2], w = (int)batch.shape[3];
        float[] all;
        using (var cpu = batch.cpu().contiguous()) all = cpu.data<float>().ToArray();
        int imageSize = 3 * h * w, plane = Grid * Grid;
        var output = new float[n * Dimension];
        for (int i = 0; i < n; i++)
        {
            var image = all.AsSpan(i * imageSize, imageSize).ToArray();
            var small = TriangleResampler.ResizeFloat(image, 3, h, w, Grid, Grid);
            var coarse = TriangleResampler.ResizeFloat(small, 3, Grid, Grid, CoarseGrid, CoarseGrid);
            var back = TriangleResampler.ResizeFloat(coarse, 3, CoarseGrid, CoarseGrid, Grid, Grid);
            var row = output.AsSpan(i * Dimension, Dimension);
            for (int c = 0; c < 3; c++)
            {
                var layout = row.Slice(c * plane, plane);
                var detail = row.Slice((3 + c) * plane, plane);
                for (int p = 0; p < plane; p++)
                {
                    layout[p] = small[c * plane + p];
                    detail[p] = small[c * plane + p] - back[c * plane + p];
                }
                Standardise(layout);
                Standardise(detail);
            }
        }
        return torch.tensor(output, [n, Dimension]);
    }

    /// <summary>Zero mean, unit L2 norm (all zeros when the part is constant).</summary>
    private static void Standardise(Span<float> v)
    {
        double mean = 0;
        foreach (float x in v) mean += x;
        mean /= v.Length;
        double norm = 0;
        for (int i = 0; i < v.Length; i++)
        {
            double d = v[i] - mean;
            norm += d * d;
        }
        norm = Math.Sqrt(norm);
        double scale = norm > 1e-8 ? 1 / norm : 0;
        for (int i = 0; i < v.Length; i++) v[i] = (float)((v[i] - mean) * scale);
    }
}
