using System.Diagnostics;
using FineXtract.Extraction.Clustering;
using Xunit.Abstractions;

namespace FineXtract.Tests.Clustering;

public class MaximumCliqueTests(ITestOutputHelper log)
{
    internal static ulong[][] RandomGraph(Random rng, int n, double density)
    {
        int words = (n + 63) >> 6;
        var adj = Enumerable.Range(0, n).Select(_ => new ulong[words]).ToArray();
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                if (rng.NextDouble() < density) AddEdge(adj, i, j);
        return adj;
    }

    internal static void AddEdge(ulong[][] adj, int i, int j)
    {
        adj[i][j >> 6] |= 1UL << j;
        adj[j][i >> 6] |= 1UL << i;
    }

    private static bool Adjacent(ulong[][] adj, int i, int j) => (adj[i][j >> 6] & (1UL << j)) != 0;

    private static bool IsClique(ulong[][] adj, IReadOnlyList<int> c)
    {
        for (int a = 0; a < c.Count; a++)
            for (int b = a + 1; b < c.Count; b++)
                if (!Adjacent(adj, c[a], c[b])) return false;
        return true;
    }

    /// <summary>Clique number of the alive vertices by trying every subset (n ≤ 16).</summary>
    private static int BruteForce(ulong[][] adj, int n, bool[] alive)
    {
        var neighbours = Enumerable.Range(0, n).Select(v => (int)adj[v][0]).ToArray();
        int aliveMask = Enumerable.Range(0, n).Where(v => alive[v]).Sum(v => 1 << v);
        int best = 0;
        for (int mask = 1; mask < 1 << n; mask++)
        {
            int size = System.Numerics.BitOperations.PopCount((uint)mask);
            if (size <= best || (mask & ~aliveMask) != 0) continue;
            bool clique = true;
            for (int v = 0; v < n && clique; v++)
                if ((mask & (1 << v)) != 0 && (mask & ~(1 << v) & ~neighbours[v]) != 0) clique = false;
            if (clique) best = size;
        }
        return best;
    }

    [Fact]
    public void MatchesBruteForceOnRandomSmallGraphs()
    {
        var rng = new Random(12345);
        for (int graph = 0; graph < 200; graph++)
        {
            int n = 8 + graph % 9;
            double density = 0.1 + 0.8 * rng.NextDouble();
            var adj = RandomGraph(rng, n, density);
            var alive = Enumerable.Repeat(true, n).ToArray();
            var search = new MaximumClique(adj);

            var found = search.Find();
            Assert.True(found.Completed);
            Assert.True(IsClique(adj, found.Clique!), $"graph {graph}: not a clique");
            Assert.Equal(BruteForce(adj, n, alive), found.Clique!.Length);
            Assert.Equal(found.Clique, new MaximumClique(adj).Find().Clique); // deterministic
            Assert.Equal(found.Clique, search.Find(upperBound: found.Clique!.Length).Clique); // a true bound changes nothing

            // After removing a few vertices the search works on what is left.
            var removed = Enumerable.Range(0, n).Where(_ => rng.NextDouble() < 0.3).ToArray();
            search.Remove(removed);
            foreach (int v in removed) alive[v] = false;
            var again = search.Find();
            Assert.True(IsClique(adj, again.Clique!));
            Assert.DoesNotContain(again.Clique!, v => removed.Contains(v));
            Assert.Equal(BruteForce(adj, n, alive), again.Clique!.Length);
            Assert.Equal(n - removed.Length, search.Remaining);
        }
    }

    [Fact]
    public void CompleteEdgelessAndEmptyGraphs()
    {
        var complete = RandomGraph(new Random(1), 70, 1.0);
        Assert.Equal(Enumerable.Range(0, 70), MaximumClique.Find(complete).Clique);

        var edgeless = RandomGraph(new Random(1), 70, 0.0);
        var single = MaximumClique.Find(edgeless);
        Assert.Single(single.Clique!);
        Assert.False(new MaximumClique(edgeless).HasEdges());

        var empty = MaximumClique.Find([]);
        Assert.True(empty.Completed);
        Assert.Empty(empty.Clique!);
    }

    [Fact]
    public void BudgetStopsTheSearchDeterministically()
    {
        var adj = RandomGraph(new Random(7), 200, 0.5);
        var full = MaximumClique.Find(adj);
        Assert.True(full.Completed);
        Assert.True(full.Work > 10);

        var cut = MaximumClique.Find(adj, budget: 10);
        Assert.False(cut.Completed);
        Assert.Null(cut.Clique);
        Assert.Equal(11, cut.Work);

        var exact = MaximumClique.Find(adj, budget: full.Work);
        Assert.True(exact.Completed);
        Assert.Equal(full.Clique, exact.Clique);
    }

    [Fact]
    public void FindsAPlantedCliqueInADense500NodeGraphFast()
    {
        var rng = new Random(3);
        var adj = RandomGraph(rng, 500, 0.5);
        var planted = Enumerable.Range(0, 500).OrderBy(_ => rng.Next()).Take(30).Order().ToArray();
        foreach (int a in planted)
            foreach (int b in planted)
                if (a < b) AddEdge(adj, a, b);
        var sw = Stopwatch.StartNew();
        var found = MaximumClique.Find(adj, budget: 2_000_000);
        log.WriteLine($"G(500, 0.5) + K30: {found.Work} nodes, {sw.ElapsedMilliseconds} ms");
        Assert.True(found.Completed);
        Assert.Equal(planted, found.Clique);
    }
}
