using System.Numerics;

namespace FineXtract.Extraction.Clustering;

/// <summary>Outcome of one maximal-clique enumeration.</summary>
/// <param name="Largest">The first largest maximal clique in enumeration order (original indices, ascending); null when the budget ran out.</param>
/// <param name="Calls">Bron–Kerbosch recursion calls (the root included); budget + 1 when the budget ran out.</param>
/// <param name="Completed">False when the enumeration needed more calls than the budget.</param>
/// <param name="Count">Maximal cliques enumerated (complete only when <paramref name="Completed"/>).</param>
public readonly record struct CliqueEnumeration(int[]? Largest, long Calls, bool Completed, long Count);

/// <summary>
/// Enumerates all maximal cliques of the alive vertices by Bron–Kerbosch with Tomita pivoting on bitsets — the
/// algorithm of networkx's <c>find_cliques</c>, which the official Cluster.py runs after every clique removal —
/// and counts its recursion calls. The count is the cost model of
/// <see cref="CliqueBudgetModel.MaximalCliqueEnumeration"/>; the clique returned is the one the official code keeps.
/// <para>
/// <b>The recursion.</b> BK(R, P, X) with P the candidates and X the excluded vertices (networkx: cand and
/// subg − cand). One call per invocation, the root BK(∅, alive, ∅) included: if P ∪ X is empty, R is a maximal
/// clique; otherwise pick the pivot u ∈ P ∪ X maximising |P ∩ N(u)|, and for each v ∈ P \ N(u) (fixed on entry)
/// call BK(R ∪ {v}, P ∩ N(v), X ∩ N(v)), then move v from P to X. A call with P empty and X non-empty ends
/// without a clique. Calls = 1 + the number of (v) iterations over the whole tree, which is what networkx's
/// iterative version does per <c>ext_u.pop()</c> plus its root.
/// </para>
/// <para>
/// <b>Order and ties (documented rule).</b> networkx takes the pivot and the branch vertices in Python set order,
/// which for small integer labels is close to ascending. Here both are exactly ascending: the pivot is the
/// <i>smallest</i> vertex index among those with the largest |P ∩ N(u)|, and P \ N(u) is visited in ascending
/// index order. The clique returned is the <i>first</i> largest maximal clique in that enumeration order (a later
/// clique replaces it only when strictly larger), as <c>max(list(nx.find_cliques(G)), key=len)</c> keeps the
/// first largest in its order. Both depend only on the graph and the alive set, so the result and the count are
/// the same on every machine.
/// </para>
/// <para>
/// <b>Budget.</b> Counting stops as soon as it passes the budget (Calls = budget + 1, no clique), so an enumeration
/// that cannot finish costs at most the budget. Isolated alive vertices (no alive neighbour) are root children
/// that end at once as singleton cliques; they are counted in bulk (one call each) without changing the count or
/// the order of anything else, because they are in no neighbourhood.
/// </para>
/// </summary>
public sealed class MaximalCliques
{
    private readonly int _n;
    private readonly int _words;
    private readonly ulong[][] _adj;        // symmetric, no self-loops, no bits >= n
    private readonly ulong[] _alive;
    private readonly ulong[] _isolated;     // alive vertices without alive neighbours
    private readonly int[] _degree;         // alive neighbours of each alive vertex
    private readonly List<Level> _levels = [];
    private int[] _stack = [];
    private int[] _best = [];

    /// <summary>
    /// Prepares the enumeration over a simple undirected graph given as bitset rows (bit j of row i set iff i and
    /// j are adjacent; rows must be symmetric; self-loops are ignored). All vertices start alive.
    /// </summary>
    public MaximalCliques(IReadOnlyList<ulong[]> adjacency)
    {
        ArgumentNullException.ThrowIfNull(adjacency);
        _n = adjacency.Count;
        _words = (_n + 63) >> 6;
        _adj = new ulong[_n][];
        _degree = new int[_n];
        _alive = new ulong[_words];
        _isolated = new ulong[_words];
        ulong lastMask = (_n & 63) == 0 ? ulong.MaxValue : (1UL << (_n & 63)) - 1;
        for (int v = 0; v < _n; v++)
        {
            var row = adjacency[v];
            if (row is null || row.Length < _words)
                throw new ArgumentException($"adjacency row {v} has {row?.Length ?? 0} words, expected {_words}", nameof(adjacency));
            var bits = row.AsSpan(0, _words).ToArray();
            bits[_words - 1] &= lastMask;
            bits[v >> 6] &= ~(1UL << v);
            _adj[v] = bits;
            _degree[v] = Embeddings.PopCount(bits);
            _alive[v >> 6] |= 1UL << v;
            if (_degree[v] == 0) _isolated[v >> 6] |= 1UL << v;
        }
        Remaining = _n;
    }

    /// <summary>Vertices in the graph (alive or removed).</summary>
    public int VertexCount => _n;

    /// <summary>Vertices not removed yet.</summary>
    public int Remaining { get; private set; }

    /// <summary>Alive vertices without an alive neighbour.</summary>
    public int Isolated => Embeddings.PopCount(_isolated);

    /// <summary>Removes vertices (original indices) from all later enumerations.</summary>
    public void Remove(IEnumerable<int> vertices)
    {
        foreach (int v in vertices)
        {
            if ((uint)v >= (uint)_n) throw new ArgumentOutOfRangeException(nameof(vertices), v, $"graph has {_n} vertices");
            if (!Has(_alive, v)) continue;
            _alive[v >> 6] &= ~(1UL << v);
            _isolated[v >> 6] &= ~(1UL << v);
            Remaining--;
            var row = _adj[v];
            for (int w = 0; w < _words; w++)
            {
                ulong x = row[w] & _alive[w];
                while (x != 0)
                {
                    int u = (w << 6) + BitOperations.TrailingZeroCount(x);
                    x &= x - 1;
                    if (--_degree[u] == 0) _isolated[u >> 6] |= 1UL << u;
                }
            }
        }
    }

    /// <summary>Alive vertices, ascending.</summary>
    public int[] RemainingVertices()
    {
        var list = new List<int>(Remaining);
        for (int v = 0; v < _n; v++) if (Has(_alive, v)) list.Add(v);
        return [.. list];
    }

    /// <summary>One-shot enumeration over a whole graph.</summary>
    public static CliqueEnumeration Enumerate(IReadOnlyList<ulong[]> adjacency, long budget) =>
        new MaximalCliques(adjacency).Enumerate(budget);

    /// <summary>
    /// Enumerates the maximal cliques of the alive vertices (see the class remarks), counting recursion calls,
    /// and returns the first largest one; stops with no clique once more than <paramref name="budget"/> calls
    /// would be needed. No alive vertex: no call, an empty clique.
    /// </summary>
    public CliqueEnumeration Enumerate(long budget = long.MaxValue)
    {
        if (budget < 0) throw new ArgumentOutOfRangeException(nameof(budget));
        if (Remaining == 0) return new CliqueEnumeration([], 0, true, 0);
        long over = budget == long.MaxValue ? long.MaxValue : budget + 1;

        // Root call, then its isolated children in bulk (each ends at once with the singleton clique {v}).
        int isolated = Embeddings.PopCount(_isolated);
        long calls = 1 + isolated;
        if (calls > budget) return new CliqueEnumeration(null, over, false, 0);
        long count = isolated;
        if (isolated == Remaining)
            return new CliqueEnumeration([FirstBit(_isolated)], calls, true, count);

        if (_stack.Length < Remaining + 1)
        {
            _stack = new int[Remaining + 1];
            _best = new int[Remaining + 1];
        }
        var root = LevelAt(0);
        int size = 0, lo = -1, hi = -1;
        for (int w = 0; w < _words; w++)
        {
            ulong p = _alive[w] & ~_isolated[w];
            root.P[w] = p;
            root.X[w] = 0;
            if (p != 0)
            {
                if (lo < 0) lo = w;
                hi = w;
                size += BitOperations.PopCount(p);
            }
        }
        root.Lo = root.PLo = lo;
        root.Hi = root.PHi = hi;
        // Isolated vertices have |P ∩ N(u)| = 0 and every other candidate has ≥ 1, so they never win the pivot.
        Pivot(root, size);

        int best = 0, d = 0;
        while (true)
        {
            var level = _levels[d];
            int v = NextBranch(level);
            if (v < 0)
            {
                if (d == 0) break;
                d--;
                continue;
            }
            if (++calls > budget) return new CliqueEnumeration(null, over, false, count);
            _stack[d] = v;
            var child = LevelAt(d + 1);
            int childSize = Intersect(level, _adj[v], child, out bool anyX);
            level.P[v >> 6] &= ~(1UL << v);
            level.X[v >> 6] |= 1UL << v;
            if (childSize == 0)
            {
                if (anyX) continue; // P empty, X not: R ∪ {v} is not maximal
                count++;
                if (d + 1 > best)
                {
                    best = d + 1;
                    Array.Copy(_stack, _best, best);
                }
                continue;
            }
            Pivot(child, childSize);
            d++;
        }

        // A non-isolated vertex has an edge, so best ≥ 2 beats every isolated singleton.
        var clique = _best.AsSpan(0, best).ToArray();
        Array.Sort(clique);
        return new CliqueEnumeration(clique, calls, true, count);
    }

    private sealed class Level(int words)
    {
        public readonly ulong[] P = new ulong[words];
        public readonly ulong[] X = new ulong[words];
        public readonly ulong[] Ext = new ulong[words];  // P \ N(pivot) on entry; visited ascending
        public int Lo, Hi;                              // word range covering P ∪ X
        public int PLo, PHi;                            // word range covering P
        public int Cursor;                              // first word of Ext that may still hold a bit
    }

    private Level LevelAt(int d)
    {
        while (_levels.Count <= d) _levels.Add(new Level(_words));
        return _levels[d];
    }

    /// <summary>child.P = P ∩ row, child.X = X ∩ row over the parent's range; returns |child.P|.</summary>
    private int Intersect(Level parent, ulong[] row, Level child, out bool anyX)
    {
        int lo = -1, hi = -1, plo = -1, phi = -1, size = 0;
        ulong xs = 0;
        var pp = parent.P;
        var px = parent.X;
        var cp = child.P;
        var cx = child.X;
        for (int w = parent.Lo; w <= parent.Hi; w++)
        {
            ulong r = row[w];
            ulong p = pp[w] & r, x = px[w] & r;
            cp[w] = p;
            cx[w] = x;
            xs |= x;
            if ((p | x) != 0)
            {
                if (lo < 0) lo = w;
                hi = w;
            }
            if (p != 0)
            {
                if (plo < 0) plo = w;
                phi = w;
                size += BitOperations.PopCount(p);
            }
        }
        anyX = xs != 0;
        child.Lo = lo;
        child.Hi = hi;
        child.PLo = plo;
        child.PHi = phi;
        return size;
    }

    /// <summary>
    /// Chooses the pivot u ∈ P ∪ X maximising |P ∩ N(u)| (smallest index on ties) and sets Ext = P \ N(u).
    /// <paramref name="size"/> = |P| ≥ 1.
    /// </summary>
    private void Pivot(Level level, int size)
    {
        var p = level.P;
        var x = level.X;
        int plo = level.PLo, phi = level.PHi;
        int bestU = -1, bestCount = -1;
        for (int w = level.Lo; w <= level.Hi && bestCount < size; w++)
        {
            ulong bits = p[w] | x[w];
            while (bits != 0)
            {
                int u = (w << 6) + BitOperations.TrailingZeroCount(bits);
                bits &= bits - 1;
                var nu = _adj[u];
                int c = 0;
                for (int k = plo; k <= phi; k++) c += BitOperations.PopCount(p[k] & nu[k]);
                if (c > bestCount)
                {
                    bestCount = c;
                    bestU = u;
                    if (c == size) break; // nothing can beat |P|
                }
            }
        }
        var pivot = _adj[bestU];
        var ext = level.Ext;
        for (int w = plo; w <= phi; w++) ext[w] = p[w] & ~pivot[w];
        level.Cursor = plo;
    }

    /// <summary>The next branch vertex of the level (ascending), removed from Ext; −1 when none is left.</summary>
    private static int NextBranch(Level level)
    {
        var ext = level.Ext;
        for (int w = level.Cursor; w <= level.PHi; w++)
        {
            ulong e = ext[w];
            if (e == 0) continue;
            level.Cursor = w;
            ext[w] = e & (e - 1);
            return (w << 6) + BitOperations.TrailingZeroCount(e);
        }
        level.Cursor = level.PHi + 1;
        return -1;
    }

    private int FirstBit(ulong[] bits)
    {
        for (int w = 0; w < _words; w++)
            if (bits[w] != 0) return (w << 6) + BitOperations.TrailingZeroCount(bits[w]);
        return -1;
    }

    private static bool Has(ulong[] bits, int i) => (bits[i >> 6] & (1UL << i)) != 0;
}
