namespace FineXtract.Cli.Benchmarks;

/// <summary>
/// Synthetic embeddings shaped like FineXtract sampling output: 10 planted tight groups of near-duplicates
/// (the memorised training images, of decreasing size) and diffuse samples around a few style directions that
/// share a common component (the fine-tuned style). Unit vectors; seeded, so runs are repeatable.
/// </summary>
public static class SyntheticEmbeddings
{
    /// <summary>Vectors (shuffled) and the planted groups as sorted index lists.</summary>
    public sealed record Data(float[][] Vectors, int[][] Groups);

    public static Data Generate(int n, int dim, int seed, int groups = 10, int styles = 4)
    {
        var rng = new Random(seed);
        var common = Noise(rng, dim, 1.0);
        var styleDirs = Enumerable.Range(0, styles).Select(_ => Noise(rng, dim, 1.0)).ToArray();
        var motifs = Enumerable.Range(0, 8 * styles).Select(_ => Noise(rng, dim, 1.0)).ToArray();
        // A diffuse sample: the common component, its style and one of the style's motifs, each with its own weight
        // (samples differ in how typical they are), plus its own noise. Cosines spread over about 0 .. 0.5.
        float[] Diffuse(int style)
        {
            var v = Noise(rng, dim, 1.0);
            v = Add(v, Scale(common, 0.6 * rng.NextDouble()));
            v = Add(v, Scale(styleDirs[style], 0.6 * rng.NextDouble()));
            v = Add(v, Scale(motifs[style * 8 + rng.Next(8)], 0.6 * rng.NextDouble()));
            return Normalise(v);
        }

        var vectors = new List<(float[] V, int Group)>();
        for (int g = 0; g < groups; g++)
        {
            int size = Math.Max(3, (int)Math.Round(n * 0.08 * Math.Pow(0.75, g)));
            if (vectors.Count + size > n) break;
            var center = Diffuse(g % styles); // a training image is a sample of its style
            double spread = 0.25 + 0.2 * g / Math.Max(1, groups - 1); // pairwise cosine ~0.94 .. ~0.83
            for (int i = 0; i < size; i++) vectors.Add((Normalise(Add(center, Noise(rng, dim, spread))), g));
        }
        while (vectors.Count < n) vectors.Add((Diffuse(rng.Next(styles)), -1));

        var order = Enumerable.Range(0, vectors.Count).ToArray();
        rng.Shuffle(order);
        var shuffled = order.Select(i => vectors[i].V).ToArray();
        var planted = Enumerable.Range(0, groups)
            .Select(g => Enumerable.Range(0, order.Length).Where(p => vectors[order[p]].Group == g).ToArray())
            .Where(m => m.Length > 0).ToArray();
        return new Data(shuffled, planted);
    }

    /// <summary>Gaussian vector with expected norm ≈ <paramref name="scale"/> (coordinates N(0, scale²/dim)).</summary>
    private static float[] Noise(Random rng, int dim, double scale)
    {
        var v = new float[dim];
        double sd = scale / Math.Sqrt(dim);
        for (int i = 0; i < dim; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            v[i] = (float)(sd * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return v;
    }

    private static float[] Add(float[] a, float[] b) => [.. a.Select((x, i) => x + b[i])];
    private static float[] Scale(float[] a, double s) => [.. a.Select(x => (float)(x * s))];

    private static float[] Normalise(float[] a)
    {
        double norm = Math.Sqrt(a.Sum(x => (double)x * x));
        return [.. a.Select(x => (float)(x / norm))];
    }
}
