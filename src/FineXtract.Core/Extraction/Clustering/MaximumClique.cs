using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace FineXtract.Extraction.Clustering;

/// <summary>Outcome of one maximum-clique search.</summary>
/// <param name="Clique">Members (original vertex indices, ascending); null when the budget ran out.</param>
/// <param name="Work">Search nodes expanded (one per candidate-set colouring, the root included).</param>
/// <param name="Completed">False when the work budget was exhausted before the search finished.</param>
public readonly record struct CliqueSearch(int[]? Clique, long Work, bool Completed);

/// <summary>
/// Exact maximum clique by bitset branch and bound with a greedy-colouring bound (Tomita's MCQ, in the bitset
/// form of San Segundo's BBMC), over a graph from which vertices can be removed between searches.
/// <para>
/// <b>Vertex order.</b> At construction vertices are renumbered once by degree in the given graph, descending,
/// ties by smaller original index; removals never renumber. At every search node the candidate set is coloured
/// greedily in that order (each colour class is filled by scanning the remaining candidates from the first),
/// and the node branches on its candidates in reverse colouring order (last coloured first), pruning when
/// clique size + colour ≤ best. Vertices whose colour cannot beat the best are not branched on.
/// </para>
/// <para>
/// <b>Tie-breaking (documented rule).</b> Among several maximum cliques the search returns the <i>first one
/// that this branch order reaches</i>: a clique replaces the incumbent only when strictly larger. The colouring
/// and branch order at a node depend only on the node's candidate set, never on the incumbent, so the answer is
/// a function of the graph (adjacency, alive vertices) alone: same input, same clique, on any machine.
/// An <c>upperBound</c> that is a true bound stops the search at the first clique of that size, which is the
/// same clique the full search would return (pruning never skips a clique larger than the incumbent).
/// </para>
/// <para>
/// <b>Budget.</b> Work is counted in search nodes expanded (colourings). When a search would exceed its budget
/// it stops and reports <see cref="CliqueSearch.Completed"/> = false: a deterministic stand-in for the official
/// code's 30 s wall-clock timeout, so results never depend on CPU speed.
/// </para>
/// </summary>
public sealed class MaximumClique
{
    private readonly int _n;
    private readonly int _words;
    private readonly ulong[][] _adj;        // adjacency in search order (bit p = vertex at position p)
    private readonly int[] _original;       // position -> original vertex
    private readonly int[] _position;       // original vertex -> position
    private readonly ulong[] _alive;        // in search order
    private readonly List<Level> _levels = [];
    private readonly ulong[] _u;            // colouring scratch (uncoloured candidates)
    private readonly ulong[] _q;            // colouring scratch (candidates for the current colour)
    private int[] _stack = [];
    private int[] _best = [];

    /// <summary>
    /// Prepares the search over a simple undirected graph given as bitset rows (bit j of row i set iff i and j
    /// are adjacent; rows must be symmetric; self-loops are ignored). All vertices start alive.
    /// </summary>
    public MaximumClique(IReadOnlyList<ulong[]> adjacency)
    {
        ArgumentNullException.ThrowIfNull(adjacency);
        _n = adjacency.Count;
        _words = (_n + 63) >> 6;
        var degree = new int[_n];
        for (int v = 0; v < _n; v++)
        {
            var row = adjacency[v];
            if (row is null || row.Length < _words)
                throw new ArgumentException($"adjacency row {v} has {row?.Length ?? 0} words, expected {_words}", nameof(adjacency));
            degree[v] = Embeddings.PopCount(row.AsSpan(0, _words)) - (Has(row, v) ? 1 : 0);
        }
        _original = new int[_n];
        for (int v = 0; v < _n; v++) _original[v] = v;
        Array.Sort(_original, (a, b) => degree[a] != degree[b] ? degree[b].CompareTo(degree[a]) : a.CompareTo(b));
        _position = new int[_n];
        for (int p = 0; p < _n; p++) _position[_original[p]] = p;

        _adj = new ulong[_n][];
        for (int p = 0; p < _n; p++)
        {
            int v = _original[p];
            var row = adjacency[v];
            var bits = new ulong[_words];
            for (int w = 0; w < _words; w++)
            {
                ulong x = row[w];
                while (x != 0)
                {
                    int u = (w << 6) + BitOperations.TrailingZeroCount(x);
                    x &= x - 1;
                    if (u < _n && u != v) Set(bits, _position[u]);
                }
            }
            _adj[p] = bits;
        }
        _alive = new ulong[_words];
        for (int p = 0; p < _n; p++) Set(_alive, p);
        Remaining = _n;
        _u = new ulong[_words];
        _q = new ulong[_words];
    }

    /// <summary>Vertices in the graph (alive or removed).</summary>
    public int VertexCount => _n;

    /// <summary>Vertices not removed yet.</summary>
    public int Remaining { get; private set; }

    /// <summary>Removes vertices (original indices) from all later searches.</summary>
    public void Remove(IEnumerable<int> vertices)
    {
        foreach (int v in vertices)
        {
            if ((uint)v >= (uint)_n) throw new ArgumentOutOfRangeException(nameof(vertices), v, $"graph has {_n} vertices");
            int p = _position[v];
            if (Has(_alive, p))
            {
                _alive[p >> 6] &= ~(1UL << p);
                Remaining--;
            }
        }
    }

    /// <summary>Alive vertices (original indices), ascending.</summary>
    public int[] RemainingVertices()
    {
        var list = new List<int>(Remaining);
        for (int p = 0; p < _n; p++) if (Has(_alive, p)) list.Add(_original[p]);
        list.Sort();
        return [.. list];
    }

    /// <summary>Whether any two alive vertices are adjacent.</summary>
    public bool HasEdges()
    {
        for (int p = 0; p < _n; p++)
        {
            if (!Has(_alive, p)) continue;
            var row = _adj[p];
            for (int w = 0; w < _words; w++) if ((row[w] & _alive[w]) != 0) return true;
        }
        return false;
    }

    /// <summary>One-shot search over a whole graph.</summary>
    public static CliqueSearch Find(IReadOnlyList<ulong[]> adjacency, long budget = long.MaxValue) =>
        new MaximumClique(adjacency).Find(budget);

    /// <summary>
    /// A maximum clique of the alive vertices (see the class remarks for the tie rule), or no clique when more
    /// than <paramref name="budget"/> nodes would be expanded. <paramref name="upperBound"/>: a known bound on the
    /// clique number (e.g. the previous clique's size after removing vertices); the search stops at the first
    /// clique of that size.
    /// </summary>
    public CliqueSearch Find(long budget = long.MaxValue, int upperBound = int.MaxValue)
    {
        if (budget < 0) throw new ArgumentOutOfRangeException(nameof(budget));
        if (Remaining == 0) return new CliqueSearch([], 0, true);
        int target = Math.Min(upperBound, Remaining);
        if (_stack.Length < Remaining + 1)
        {
            _stack = new int[Remaining + 1];
            _best = new int[Remaining + 1];
        }

        long work = 1;
        if (work > budget) return new CliqueSearch(null, work, false);
        var root = LevelAt(0);
        Array.Copy(_alive, root.P, _words);
        root.Lo = 0;
        root.Hi = _words - 1;
        Colour(root, 1);

        int best = 0, d = 0;
        while (true)
        {
            var level = _levels[d];
            if (level.Next < 0 || d + level.Colour[level.Next] <= best)
            {
                if (d == 0) break;
                d--;
                var parent = _levels[d];
                int back = _stack[d];
                parent.P[back >> 6] &= ~(1UL << back);
                parent.Next--;
                continue;
            }
            int v = level.Order[level.Next];
            _stack[d] = v;
            var child = LevelAt(d + 1);
            if (!Intersect(level, _adj[v], child))
            {
                if (d + 1 > best)
                {
                    best = d + 1;
                    Array.Copy(_stack, _best, best);
                    if (best >= target) break;
                }
                level.P[v >> 6] &= ~(1UL << v);
                level.Next--;
                continue;
            }
            if (++work > budget) return new CliqueSearch(null, work, false);
            Colour(child, Math.Max(1, best - d));
            d++;
        }

        var clique = new int[best];
        for (int i = 0; i < best; i++) clique[i] = _original[_best[i]];
        Array.Sort(clique);
        return new CliqueSearch(clique, work, true);
    }

    private sealed class Level(int words)
    {
        public readonly ulong[] P = new ulong[words];
        public int Lo, Hi;                 // nonzero word range of P
        public int[] Order = [];           // branch candidates in colouring order
        public int[] Colour = [];          // their colours (non-decreasing)
        public int Count;                  // recorded candidates
        public int Next;                   // next candidate to branch on (counts down)
    }

    private Level LevelAt(int d)
    {
        while (_levels.Count <= d) _levels.Add(new Level(_words));
        return _levels[d];
    }

    /// <summary>child.P = parent.P ∩ row over the parent's word range; false when empty.</summary>
    private bool Intersect(Level parent, ulong[] row, Level child)
    {
        int lo = -1, hi = -1;
        var pp = parent.P;
        var cp = child.P;
        for (int w = parent.Lo; w <= parent.Hi; w++)
        {
            ulong x = pp[w] & row[w];
            cp[w] = x;
            if (x != 0)
            {
                if (lo < 0) lo = w;
                hi = w;
            }
        }
        if (lo < 0) return false;
        child.Lo = lo;
        child.Hi = hi;
        return true;
    }

    /// <summary>
    /// Greedy sequential colouring of level.P in search order; records the candidates whose colour is at least
    /// <paramref name="kmin"/> (the others cannot lead to a larger clique) and sets level.Next to the last.
    /// </summary>
    private void Colour(Level level, int kmin)
    {
        int lo = level.Lo, hi = level.Hi;
        var p = level.P;
        int size = 0;
        for (int w = lo; w <= hi; w++)
        {
            _u[w] = p[w];
            size += BitOperations.PopCount(p[w]);
        }
        if (level.Order.Length < size)
        {
            level.Order = new int[Math.Max(size, 2 * level.Order.Length)];
            level.Colour = new int[level.Order.Length];
        }
        var order = level.Order;
        var colour = level.Colour;
        int count = 0, k = 0, uLo = lo;
        while (true)
        {
            while (uLo <= hi && _u[uLo] == 0) uLo++;
            if (uLo > hi) break;
            k++;
            Array.Copy(_u, uLo, _q, uLo, hi - uLo + 1);
            for (int w = uLo; w <= hi; w++)
            {
                ulong q = _q[w];
                while (q != 0)
                {
                    int b = BitOperations.TrailingZeroCount(q);
                    int v = (w << 6) + b;
                    _u[w] &= ~(1UL << b);
                    var nv = _adj[v];
                    q &= ~(1UL << b) & ~nv[w];
                    AndNot(_q, nv, w + 1, hi);
                    if (k >= kmin)
                    {
                        order[count] = v;
                        colour[count] = k;
                        count++;
                    }
                }
            }
        }
        level.Count = count;
        level.Next = count - 1;
    }

    /// <summary>q[from..to] &amp;= ~mask[from..to] (the colouring's inner loop, 4 words at a time).</summary>
    private static void AndNot(ulong[] q, ulong[] mask, int from, int to)
    {
        if (to >= q.Length || to >= mask.Length) throw new IndexOutOfRangeException();
        ref ulong qr = ref MemoryMarshal.GetArrayDataReference(q);
        ref ulong mr = ref MemoryMarshal.GetArrayDataReference(mask);
        nuint x = (nuint)from, end = (nuint)(to + 1);
        if (Vector256.IsHardwareAccelerated)
        {
            for (; x + 4 <= end; x += 4)
                Vector256.AndNot(Vector256.LoadUnsafe(ref qr, x), Vector256.LoadUnsafe(ref mr, x)).StoreUnsafe(ref qr, x);
        }
        for (; x < end; x++) Unsafe.Add(ref qr, x) &= ~Unsafe.Add(ref mr, x);
    }

    private static bool Has(ulong[] bits, int i) => (bits[i >> 6] & (1UL << i)) != 0;
    private static void Set(ulong[] bits, int i) => bits[i >> 6] |= 1UL << i;
}
