using System.Numerics;
using System.Runtime.Intrinsics;

namespace FineXtract.Extraction.Clustering;

/// <summary>
/// Validation, L2 normalisation and the dot-product kernel shared by clustering and metrics.
/// The kernel is bit-reproducible across machines: fixed 256-bit lanes, separate multiply and add (no FMA
/// contraction), a fixed horizontal reduction, so a similarity never depends on the CPU or on blocking.
/// </summary>
public static class Embeddings
{
    /// <summary>Validated, L2-normalised copies (norm computed in double). Rejects ragged rows, NaN/∞ and zero vectors.</summary>
    public static float[][] Normalise(IReadOnlyList<float[]> vectors, string what = "embedding", int? dimension = null)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        var result = new float[vectors.Count][];
        int d = dimension ?? (vectors.Count > 0 ? vectors[0]?.Length ?? 0 : 0);
        if (vectors.Count > 0 && d == 0) throw new FineXtractException($"{what}s have dimension 0");
        for (int i = 0; i < vectors.Count; i++)
        {
            var v = vectors[i] ?? throw new FineXtractException($"{what} {i} is missing");
            if (v.Length != d) throw new FineXtractException($"{what} {i} has dimension {v.Length}, expected {d}");
            double sum = 0;
            foreach (float x in v)
            {
                if (!float.IsFinite(x)) throw new FineXtractException($"{what} {i} contains NaN or infinity");
                sum += (double)x * x;
            }
            if (sum == 0) throw new FineXtractException($"{what} {i} is a zero vector (cosine similarity undefined)");
            double norm = Math.Sqrt(sum);
            var u = new float[d];
            for (int k = 0; k < d; k++) u[k] = (float)(v[k] / norm);
            result[i] = u;
        }
        return result;
    }

    /// <summary>Dot product of two equally long vectors (see the class remarks for reproducibility).</summary>
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int n = a.Length, k = 0;
        var acc = Vector256<float>.Zero;
        for (; k + 8 <= n; k += 8)
            acc += Vector256.Create(a.Slice(k, 8)) * Vector256.Create(b.Slice(k, 8));
        return Finish(acc, a, b, k);
    }

    /// <summary>Four dot products of <paramref name="a"/> with b0..b3, each bit-identical to <see cref="Dot"/>.</summary>
    internal static void Dot4(ReadOnlySpan<float> a, ReadOnlySpan<float> b0, ReadOnlySpan<float> b1,
        ReadOnlySpan<float> b2, ReadOnlySpan<float> b3, Span<float> result)
    {
        int n = a.Length, k = 0;
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (; k + 8 <= n; k += 8)
        {
            var x = Vector256.Create(a.Slice(k, 8));
            s0 += x * Vector256.Create(b0.Slice(k, 8));
            s1 += x * Vector256.Create(b1.Slice(k, 8));
            s2 += x * Vector256.Create(b2.Slice(k, 8));
            s3 += x * Vector256.Create(b3.Slice(k, 8));
        }
        result[0] = Finish(s0, a, b0, k);
        result[1] = Finish(s1, a, b1, k);
        result[2] = Finish(s2, a, b2, k);
        result[3] = Finish(s3, a, b3, k);
    }

    private static float Finish(Vector256<float> acc, ReadOnlySpan<float> a, ReadOnlySpan<float> b, int k)
    {
        // Fixed pairwise reduction of the 8 lanes, then the scalar tail in order.
        float s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
        for (; k < a.Length; k++) s += a[k] * b[k];
        return s;
    }

    internal static int PopCount(ReadOnlySpan<ulong> bits)
    {
        int c = 0;
        foreach (ulong w in bits) c += BitOperations.PopCount(w);
        return c;
    }
}
