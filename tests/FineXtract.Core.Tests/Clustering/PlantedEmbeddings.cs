namespace FineXtract.Tests.Clustering;

/// <summary>
/// Embeddings with an exactly known clique structure. Every vector is e0 + (own or group direction) + σ·(unit
/// vector), so all norms are equal and every pair from different groups has cosine exactly 1/(2+σ²) = 0.4785
/// (up to float rounding), while members of one group have cosine ≥ 2/(2+σ²) = 0.957. Within a group, member j
/// leans towards a group-shared direction by sin θ_j; the member with the largest sin θ is nearest the mean.
/// The 25 % quantile is the cross value, so the sweep starts at 0.47 (one clique of everything, M = 1) and stops
/// at 0.48, where the graph is exactly the planted groups plus singletons.
/// </summary>
internal static class PlantedEmbeddings
{
    public const double Sigma = 0.3;
    public static readonly int[] GroupSizes = [8, 6, 5, 4, 3];
    public const int Singletons = 10;

    /// <summary>Vectors in planted order (group 0 members first, singletons last), the groups and their representatives.</summary>
    public static (float[][] Vectors, int[][] Groups, int[] Representatives) Build()
    {
        int total = GroupSizes.Sum() + Singletons;
        int dim = 1 + 2 * GroupSizes.Length + total + Singletons;
        int next = 1 + 2 * GroupSizes.Length; // unique directions start here
        var vectors = new List<float[]>();
        var groups = new List<int[]>();
        var reps = new List<int>();
        for (int g = 0; g < GroupSizes.Length; g++)
        {
            var members = new List<int>();
            int rep = -1;
            double bestSin = -1;
            for (int j = 0; j < GroupSizes[g]; j++)
            {
                // θ_j distinct per member; the largest sin θ is not the first member.
                double theta = 0.15 + 1.3 * ((j * 7 + 1) % GroupSizes[g]) / GroupSizes[g];
                var v = new double[dim];
                v[0] = 1;
                v[1 + g] = 1;
                v[1 + GroupSizes.Length + g] = Sigma * Math.Sin(theta);
                v[next++] = Sigma * Math.Cos(theta);
                if (Math.Sin(theta) > bestSin)
                {
                    bestSin = Math.Sin(theta);
                    rep = vectors.Count;
                }
                members.Add(vectors.Count);
                vectors.Add([.. v.Select(x => (float)x)]);
            }
            groups.Add([.. members]);
            reps.Add(rep);
        }
        for (int s = 0; s < Singletons; s++)
        {
            var v = new double[dim];
            v[0] = 1;
            v[next++] = 1;
            v[next++] = Sigma;
            vectors.Add([.. v.Select(x => (float)x)]);
        }
        return ([.. vectors], [.. groups], [.. reps]);
    }
}
