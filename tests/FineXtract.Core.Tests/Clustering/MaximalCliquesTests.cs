using FineXtract.Extraction.Clustering;

namespace FineXtract.Tests.Clustering;

public class MaximalCliquesTests
{
    /// <summary>
    /// Textbook Bron–Kerbosch with Tomita pivoting, written as plainly as possible: one call per invocation, pivot
    /// = smallest u ∈ P ∪ X with the most neighbours in P, branch over P \ N(u) in ascending order (fixed on entry).
    /// </summary>
    private sealed class Reference(bool[,] adjacent)
    {
        public long Calls;
        public readonly List<List<int>> Cliques = [];

        public void Run(IEnumerable<int> alive) => Bk([], [.. alive], []);

        private void Bk(List<int> r, List<int> p, List<int> x)
        {
            Calls++;
            if (p.Count == 0 && x.Count == 0)
            {
                Cliques.Add([.. r]);
                return;
            }
            if (p.Count == 0) return;
            var all = p.Concat(x).Order().ToList();
            int pivot = all[0], most = -1;
            foreach (int u in all)
            {
                int c = p.Count(v => adjacent[u, v]);
                if (c > most)
                {
                    most = c;
                    pivot = u;
                }
            }
            foreach (int v in p.Where(v => !adjacent[pivot, v]).Order().ToList())
            {
                Bk([.. r, v], [.. p.Where(w => adjacent[v, w])], [.. x.Where(w => adjacent[v, w])]);
                p.Remove(v);
                x.Add(v);
            }
        }

        /// <summary>The first largest clique in enumeration order, sorted.</summary>
        public int[] Largest => [.. Cliques.First(c => c.Count == Cliques.Max(k => k.Count)).Order()];
    }

    private static bool[,] Matrix(ulong[][] adj, int n)
    {
        var m = new bool[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                m[i, j] = (adj[i][j >> 6] & (1UL << j)) != 0;
        return m;
    }

    /// <summary>
    /// A random graph with some isolated vertices; above 64 vertices (several bitset words) at most half dense, as
    /// dense large graphs have too many maximal cliques for the naive reference.
    /// </summary>
    private static ulong[][] Graph(Random rng, int n)
    {
        var adj = MaximumCliqueTests.RandomGraph(rng, n, n <= 16 ? 0.1 + 0.85 * rng.NextDouble() : 0.05 + 0.45 * rng.NextDouble());
        foreach (int v in Enumerable.Range(0, n).Where(_ => rng.NextDouble() < 0.15))
            for (int u = 0; u < n; u++)
            {
                adj[v][u >> 6] &= ~(1UL << u);
                adj[u][v >> 6] &= ~(1UL << v);
            }
        return adj;
    }

    [Fact]
    public void CountsExactlyTheCallsOfANaiveBronKerboschWithPivot()
    {
        var rng = new Random(2024);
        for (int graph = 0; graph < 300; graph++)
        {
            int n = graph < 250 ? 1 + graph % 16 : 65 + graph % 20;
            var adj = Graph(rng, n);
            var m = Matrix(adj, n);
            var alive = Enumerable.Range(0, n).ToList();
            var enumeration = new MaximalCliques(adj);
            for (int round = 0; round < 3 && alive.Count > 0; round++)
            {
                var reference = new Reference(m);
                reference.Run(alive);
                var found = enumeration.Enumerate();
                Assert.True(found.Completed);
                Assert.Equal(reference.Calls, found.Calls);
                Assert.Equal(reference.Cliques.Count, found.Count);
                Assert.Equal(reference.Largest, found.Largest);

                // The budget is a hard line: exactly the count completes, one less stops at budget + 1.
                Assert.True(enumeration.Enumerate(found.Calls).Completed);
                var cut = enumeration.Enumerate(found.Calls - 1);
                Assert.False(cut.Completed);
                Assert.Null(cut.Largest);
                Assert.Equal(found.Calls, cut.Calls);

                var removed = alive.Where(_ => rng.NextDouble() < 0.3).ToList();
                enumeration.Remove(removed);
                alive = [.. alive.Except(removed)];
                Assert.Equal(alive.Count, enumeration.Remaining);
                Assert.Equal(alive, enumeration.RemainingVertices());
            }
        }
    }

    [Fact]
    public void KnownCounts()
    {
        // Kₙ: the root, then one chain of n calls down to the single maximal clique.
        var complete = MaximumCliqueTests.RandomGraph(new Random(1), 70, 1.0);
        var k = MaximalCliques.Enumerate(complete, long.MaxValue);
        Assert.Equal(71, k.Calls);
        Assert.Equal(Enumerable.Range(0, 70), k.Largest);
        Assert.Equal(1, k.Count);

        // n isolated vertices: the root and n singleton leaves; the first is vertex 0.
        var edgeless = MaximumCliqueTests.RandomGraph(new Random(1), 70, 0.0);
        var e = MaximalCliques.Enumerate(edgeless, long.MaxValue);
        Assert.Equal(71, e.Calls);
        Assert.Equal([0], e.Largest!);
        Assert.Equal(70, e.Count);
        Assert.False(MaximalCliques.Enumerate(edgeless, 70).Completed);

        Assert.Equal(0, MaximalCliques.Enumerate([], long.MaxValue).Calls);

        // Two triangles sharing nothing, {0,1,2} and {3,4,5}: equal size, the first in enumeration order wins.
        var adj = MaximumCliqueTests.RandomGraph(new Random(1), 6, 0.0);
        foreach (var (a, b) in new[] { (3, 4), (4, 5), (3, 5), (0, 1), (1, 2), (0, 2) }) MaximumCliqueTests.AddEdge(adj, a, b);
        Assert.Equal([0, 1, 2], MaximalCliques.Enumerate(adj, long.MaxValue).Largest!);
    }

    /// <summary>The official loop, naively: enumerate, remove the first largest, repeat until empty.</summary>
    private static (List<int[]> Parts, long Calls) ReferencePartition(bool[,] m, int n)
    {
        var alive = Enumerable.Range(0, n).ToList();
        var parts = new List<int[]>();
        long calls = 0;
        while (alive.Count > 0)
        {
            var reference = new Reference(m);
            reference.Run(alive);
            calls += reference.Calls;
            var largest = reference.Largest;
            parts.Add(largest);
            alive = [.. alive.Except(largest)];
        }
        return (parts, calls);
    }

    [Fact]
    public void PartitionSumsTheCallsOfEveryRemovalStep()
    {
        var rng = new Random(77);
        for (int graph = 0; graph < 60; graph++)
        {
            int n = 1 + graph % 14;
            var adj = Graph(rng, n);
            var (parts, calls) = ReferencePartition(Matrix(adj, n), n);
            var (cliques, work) = CliqueClustering.PartitionByEnumeration(adj, long.MaxValue);
            Assert.Equal(calls, work);
            Assert.Equal(parts.Select(p => string.Join(',', p)).Order(), cliques!.Select(p => string.Join(',', p)).Order());

            var (none, spent) = CliqueClustering.PartitionByEnumeration(adj, calls - 1);
            Assert.Null(none);
            Assert.Equal(calls, spent); // budget + 1: counting stops as soon as the budget is passed
            Assert.NotNull(CliqueClustering.PartitionByEnumeration(adj, calls).Cliques);
        }
        Assert.Equal(2 + 3 + 4, CliqueClustering.EdgelessEnumerationCalls(3));
    }
}
