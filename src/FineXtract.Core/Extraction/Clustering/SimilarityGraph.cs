namespace FineXtract.Extraction.Clustering;

/// <summary>
/// Cosine similarities of L2-normalised embeddings, diagonal zero (as in the official Cluster.py), kept as full
/// symmetric float rows. Rows grow with <see cref="Append"/> without recomputing old pairs, and every entry is
/// bit-identical to what a one-shot build over the concatenated embeddings gives.
/// </summary>
public sealed class SimilarityGraph
{
    private const int Block = 64;
    private float[][] _embeddings = [];
    private float[][] _rows = [];
    private int _capacity;

    /// <summary>An empty graph for embeddings of the given dimension (grown with <see cref="Append"/>).</summary>
    public SimilarityGraph(int dimension)
    {
        if (dimension <= 0) throw new FineXtractException($"embedding dimension must be positive, got {dimension}");
        Dimension = dimension;
    }

    /// <summary>Builds the graph of the given embeddings (normalised defensively; see <see cref="Embeddings.Normalise"/>).</summary>
    public static SimilarityGraph FromEmbeddings(IReadOnlyList<float[]> embeddings)
    {
        ArgumentNullException.ThrowIfNull(embeddings);
        if (embeddings.Count == 0) throw new FineXtractException("no embeddings");
        var graph = new SimilarityGraph(embeddings[0]?.Length ?? 0);
        graph.Append(embeddings);
        return graph;
    }

    public int Count { get; private set; }
    public int Dimension { get; }

    /// <summary>The normalised embedding of vertex <paramref name="i"/>.</summary>
    public ReadOnlySpan<float> Embedding(int i) => _embeddings[CheckIndex(i)];

    /// <summary>Similarities of vertex <paramref name="i"/> to all vertices (entry i is 0).</summary>
    public ReadOnlySpan<float> Row(int i) => _rows[CheckIndex(i)].AsSpan(0, Count);

    public float this[int i, int j] => _rows[CheckIndex(i)][CheckIndex(j)];

    /// <summary>Adds embeddings; only the new rows and columns are computed. Returns the index of the first new one.</summary>
    public int Append(IReadOnlyList<float[]> more)
    {
        var add = Embeddings.Normalise(more, "embedding", Dimension);
        int old = Count, n = old + add.Length;
        if (add.Length == 0) return old;
        if (n > _capacity)
        {
            // Grow by 1.5x so that batch-by-batch appends copy O(n²) floats in total, not per batch.
            int cap = (int)Math.Min(Array.MaxLength, Math.Max(n, _capacity + _capacity / 2L));
            Array.Resize(ref _rows, cap);
            Array.Resize(ref _embeddings, cap);
            for (int i = 0; i < old; i++) Array.Resize(ref _rows[i], cap);
            _capacity = cap;
        }
        for (int i = old; i < n; i++) _rows[i] = new float[_capacity];
        Array.Copy(add, 0, _embeddings, old, add.Length);

        // Lower triangle of the new rows (j < i), blocked over rows, 4 columns per kernel call; mirrored after.
        var emb = _embeddings;
        var rows = _rows;
        int blocks = (add.Length + Block - 1) / Block;
        Parallel.For(0, blocks, b =>
        {
            Span<float> four = stackalloc float[4];
            int i0 = old + b * Block, i1 = Math.Min(n, i0 + Block);
            for (int jb = 0; jb < i1; jb += Block)
            {
                int j1 = Math.Min(i1, jb + Block);
                for (int i = i0; i < i1; i++)
                {
                    var ri = rows[i];
                    var ei = emb[i];
                    int jEnd = Math.Min(j1, i);
                    int j = jb;
                    for (; j + 4 <= jEnd; j += 4)
                    {
                        Embeddings.Dot4(ei, emb[j], emb[j + 1], emb[j + 2], emb[j + 3], four);
                        ri[j] = four[0]; ri[j + 1] = four[1]; ri[j + 2] = four[2]; ri[j + 3] = four[3];
                    }
                    for (; j < jEnd; j++) ri[j] = Embeddings.Dot(ei, emb[j]);
                }
            }
        });
        for (int i = old; i < n; i++)
        {
            var ri = rows[i];
            ri[i] = 0f;
            for (int j = 0; j < i; j++) rows[j][i] = ri[j];
        }
        Count = n;
        return old;
    }

    /// <summary>Largest off-diagonal similarity (−∞ with fewer than two vertices).</summary>
    public float MaxOffDiagonal()
    {
        float max = float.NegativeInfinity;
        for (int i = 1; i < Count; i++)
        {
            var r = _rows[i];
            for (int j = 0; j < i; j++) if (r[j] > max) max = r[j];
        }
        return max;
    }

    /// <summary>
    /// Exact quantile of the n(n−1)/2 off-diagonal similarities (each unordered pair once), with linear
    /// interpolation between order statistics at position q·(m−1) (torch.quantile's default). 0 when n &lt; 2.
    /// </summary>
    public double OffDiagonalQuantile(double q)
    {
        if (!(q >= 0 && q <= 1)) throw new FineXtractException($"quantile must be in [0, 1], got {q}");
        long m = (long)Count * (Count - 1) / 2;
        if (m == 0) return 0;
        if (m > Array.MaxLength) throw new FineXtractException($"too many pairs for an exact quantile ({m})");
        var values = new float[m];
        long p = 0;
        for (int i = 1; i < Count; i++)
        {
            Array.Copy(_rows[i], 0, values, p, i);
            p += i;
        }
        double pos = q * (m - 1);
        int lo = (int)Math.Floor(pos);
        double frac = pos - lo;
        float a = Select(values, lo);
        if (frac == 0 || lo + 1 >= m) return a;
        // After selection every element right of lo is >= values[lo]; the next order statistic is their minimum.
        float b = float.PositiveInfinity;
        for (long k = lo + 1; k < m; k++) if (values[k] < b) b = values[k];
        return a + frac * ((double)b - a);
    }

    /// <summary>
    /// Adjacency at a threshold as bitset rows (bit j of row i set iff i ≠ j and S_ij ≥ threshold).
    /// <paramref name="threshold"/> is compared in float32, as PyTorch compares a float32 matrix with a Python scalar.
    /// </summary>
    public ulong[][] Adjacency(double threshold)
    {
        float t = (float)threshold;
        int n = Count, words = (n + 63) >> 6;
        var adj = new ulong[n][];
        Parallel.For(0, n, i =>
        {
            var bits = new ulong[words];
            var r = _rows[i];
            for (int j = 0; j < n; j++)
                if (j != i && r[j] >= t) bits[j >> 6] |= 1UL << j;
            adj[i] = bits;
        });
        return adj;
    }

    private int CheckIndex(int i) =>
        (uint)i < (uint)Count ? i : throw new ArgumentOutOfRangeException(nameof(i), i, $"graph has {Count} vertices");

    /// <summary>k-th smallest (0-based) by in-place quickselect with a deterministic median-of-three pivot.</summary>
    private static float Select(float[] a, int k)
    {
        int lo = 0, hi = a.Length - 1;
        while (hi > lo)
        {
            int mid = lo + ((hi - lo) >> 1);
            if (a[mid] < a[lo]) (a[mid], a[lo]) = (a[lo], a[mid]);
            if (a[hi] < a[lo]) (a[hi], a[lo]) = (a[lo], a[hi]);
            if (a[hi] < a[mid]) (a[hi], a[mid]) = (a[mid], a[hi]);
            float pivot = a[mid];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (a[i] < pivot) i++;
                while (a[j] > pivot) j--;
                if (i <= j)
                {
                    (a[i], a[j]) = (a[j], a[i]);
                    i++;
                    j--;
                }
            }
            if (k <= j) hi = j;
            else if (k >= i) lo = i;
            else return a[k];
        }
        return a[k];
    }
}
