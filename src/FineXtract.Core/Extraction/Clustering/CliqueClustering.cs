using System.Security.Cryptography;
using System.Text;

namespace FineXtract.Extraction.Clustering;

/// <summary>Which cluster representatives count as the extracted images.</summary>
public enum SelectionMode
{
    /// <summary>All M ≥ N representatives, like the official code (inflates AS/A-ESR when M ≫ N).</summary>
    Faithful,
    /// <summary>Representatives of the N largest cliques (ties by smallest first member).</summary>
    ExactN,
}

/// <summary>
/// What a round's work budget counts — the deterministic stand-in for the official code's 30 s timeout.
/// </summary>
public enum CliqueBudgetModel
{
    /// <summary>
    /// The official cost (default): Bron–Kerbosch-with-pivot recursion calls needed to enumerate all maximal cliques
    /// (networkx <c>find_cliques</c>), summed over every removal step of the greedy partition, because the official
    /// code re-enumerates after each removal (<see cref="MaximalCliques"/>). Dense graphs have astronomically many
    /// maximal cliques, so, like the timeout, the budget keeps the sweep climbing until the graph is sparse.
    /// </summary>
    MaximalCliqueEnumeration,
    /// <summary>
    /// Search nodes of the exact branch-and-bound maximum-clique search (<see cref="MaximumClique"/>). Far cheaper
    /// than enumeration on dense graphs, so the sweep stops at much lower thresholds than the official code.
    /// </summary>
    MaximumCliqueSearch,
}

/// <summary>Clustering options; every default lives here.</summary>
/// <param name="Expected">N: number of training images; the sweep stops at the first threshold with ≥ N cliques.</param>
/// <param name="Step">Threshold increment per round (official: 0.01); thresholds are whole multiples of it.</param>
/// <param name="StartQuantile">Quantile of the off-diagonal similarities that sets the start threshold (official: 0.25).</param>
/// <param name="WorkBudget">
/// Work allowed per round (the whole greedy partition) in the units of <paramref name="BudgetModel"/>, the
/// deterministic stand-in for the official 30 s timeout; a round that needs more counts as timed out
/// (threshold + step, retry). Null: the model's default (<see cref="DefaultBudget"/>). <see cref="long.MaxValue"/>: unlimited.
/// </param>
/// <param name="Selection">Which representatives are selected.</param>
/// <param name="Parallelism">
/// Thresholds tried at once (0: one per CPU core). Speed only: the result, round log and work are the same for any value.
/// </param>
/// <param name="BudgetModel">What the budget counts; the partition is a greedy "remove a largest clique" either way.</param>
public sealed record CliqueClusteringOptions(
    int Expected = 10,
    double Step = 0.01,
    double StartQuantile = 0.25,
    long? WorkBudget = null,
    SelectionMode Selection = SelectionMode.Faithful,
    int Parallelism = 0,
    CliqueBudgetModel BudgetModel = CliqueBudgetModel.MaximalCliqueEnumeration)
{
    /// <summary>
    /// Default budget of <see cref="CliqueBudgetModel.MaximalCliqueEnumeration"/>: 6,000,000 Bron–Kerbosch recursion
    /// calls per round, the number networkx's <c>find_cliques</c> makes in the official 30 s timeout. A fixed
    /// constant (no clock is read), so results are the same on every machine.
    /// <para>
    /// Calibration: Debian's networkx 2.8.8 on CPython 3.11 (AMD EPYC, one core, CPU time, machine shared), running
    /// the official loop (<c>list(find_cliques)</c>, <c>max</c>, <c>remove_nodes_from</c> until empty) with the
    /// algorithm instrumented to count calls (root + every <c>ext_u.pop()</c>), on 500×500 similarity matrices of
    /// the benchmark's synthetic embeddings (seeds 0–2), a random-geometric graph (uniform points on S⁹) and a
    /// planted-cluster set, at 18 thresholds of density 0.11–0.76 around and below where 30 s runs out: 118k–298k
    /// calls/s, median 206k (rounds that finish near the boundary: 179k–273k; the counting costs no measurable time
    /// against plain networkx). 206k/s × 30 s ≈ 6.2·10⁶, less ≈1 s of the timeout spent outside the enumeration
    /// (the O(n²) Python edge loop and the deepcopy: 0.3–0.5 s measured, plus the fork) ≈ 6.0·10⁶.
    /// </para>
    /// <para>
    /// Agreement: on those five matrices the first threshold this budget accepts equals the first one real networkx
    /// finishes in 30 s on the three synthetic-embedding sets (0.18, 0.19, 0.16) and is 0.01 higher on the other two
    /// (where networkx ran at 250k–270k calls/s). Near the boundary the cost grows 1.2–3.5× per 0.01 of threshold,
    /// so a factor 2 in the budget moves the stop by one or two steps. This implementation's counts are within 4 % of
    /// networkx's on the same graphs (networkx takes pivots and branches in Python set order, here ascending).
    /// </para>
    /// <para>
    /// Cost here: ≈1.2·10⁷ calls/s at 500 samples, ≈4·10⁶ at 2,000 and ≈3·10⁶ at 5,000 (one core), so a round that
    /// times out costs ≈0.5 s, 1.5 s and 2 s. Larger n: the constant is calibrated at the official 500 samples. The
    /// official loop's cost grows at least quadratically with n (each removal re-enumerates the rest: ≥ 1 + remaining
    /// calls per step), so under the same budget the sweep stops at higher thresholds as n grows (benchmark seed 0:
    /// 0.18 at 500, 0.28 at 2,000, 0.36 at 5,000), as a fixed 30 s timeout would.
    /// </para>
    /// </summary>
    public const long DefaultWorkBudget = 6_000_000;

    /// <summary>
    /// Default budget of <see cref="CliqueBudgetModel.MaximumCliqueSearch"/>: 100,000 search nodes per round. On the
    /// synthetic benchmark (<c>finextract bench clique</c>) rounds that finish need 10³–6·10⁴ nodes at 500 samples
    /// and 3·10⁴–1.2·10⁵ at 5,000, while the dense rounds near the start threshold that cannot finish need millions.
    /// One node costs ≈2 µs at 500 samples and up to ≈0.1 ms on a 75 %-dense 5,000-vertex graph (one core), so a
    /// round that times out costs ≈0.2 s at 500 and 1–10 s at 5,000. It is a knob, not a calibration of the official
    /// 30 s networkx timeout: that search enumerates every maximal clique after every removal, is far weaker, and
    /// so times out on much sparser graphs than this one does (measured: at 500 samples this model stops at the
    /// start threshold, where the graph is ≈75 % dense).
    /// </summary>
    public const long DefaultSearchNodeBudget = 100_000;

    /// <summary>The default budget of a model.</summary>
    public static long DefaultBudget(CliqueBudgetModel model) => model switch
    {
        CliqueBudgetModel.MaximalCliqueEnumeration => DefaultWorkBudget,
        CliqueBudgetModel.MaximumCliqueSearch => DefaultSearchNodeBudget,
        _ => throw new FineXtractException($"unknown budget model {model}"),
    };

    /// <summary>The budget in force: <see cref="WorkBudget"/>, else the model's default.</summary>
    public long Budget => WorkBudget ?? DefaultBudget(BudgetModel);

    internal void Validate()
    {
        if (Expected < 0) throw new FineXtractException($"expected cluster count N must be >= 0, got {Expected}");
        if (!(Step > 0 && Step <= 1)) throw new FineXtractException($"threshold step must be in (0, 1], got {Step}");
        if (!(StartQuantile >= 0 && StartQuantile <= 1)) throw new FineXtractException($"start quantile must be in [0, 1], got {StartQuantile}");
        if (WorkBudget is < 1) throw new FineXtractException($"work budget must be >= 1, got {WorkBudget}");
        if (!Enum.IsDefined(BudgetModel)) throw new FineXtractException($"unknown budget model {BudgetModel}");
        if (Parallelism < 0) throw new FineXtractException($"parallelism must be >= 0, got {Parallelism}");
    }
}

/// <summary>One clique of the partition.</summary>
/// <param name="Members">Vertex indices, ascending.</param>
/// <param name="Representative">Member nearest the (not renormalised) mean of the members' normalised embeddings.</param>
public sealed record CliqueCluster(int[] Members, int Representative)
{
    public int Size => Members.Length;
}

/// <summary>One threshold tried by the sweep.</summary>
/// <param name="Threshold">Edges at similarity ≥ this.</param>
/// <param name="BudgetExceeded">The partition needed more than the work budget (the official timeout).</param>
/// <param name="Work">Work in the budget model's units (budget + 1 when exceeded: counting stops there).</param>
/// <param name="Cliques">Cliques of the partition; null when the budget was exceeded.</param>
public sealed record ClusteringRound(double Threshold, bool BudgetExceeded, long Work, int? Cliques);

/// <summary>Result of <see cref="CliqueClustering.Run(SimilarityGraph, CliqueClusteringOptions?)"/>.</summary>
public sealed record CliqueClusteringResult(
    double StartQuantileValue,
    double StartThreshold,
    double Threshold,
    int Rounds,
    int BudgetExceededRounds,
    long TotalWork,
    IReadOnlyList<ClusteringRound> RoundLog,
    IReadOnlyList<CliqueCluster> Clusters,
    IReadOnlyList<CliqueCluster> SelectedClusters,
    CliqueClusteringOptions Options)
{
    /// <summary>M: cliques in the final partition (≥ N).</summary>
    public int M => Clusters.Count;

    /// <summary>The official output directory's number, threshold + step (the code adds 0.01 before saving).</summary>
    public double OfficialThresholdLabel => CliqueClustering.Round(Threshold + Options.Step);

    /// <summary>The official output directory name, e.g. "0.24_1".</summary>
    public string OfficialDirectoryName => FormattableString.Invariant($"{OfficialThresholdLabel:F2}_1");

    /// <summary>The extracted images: representatives of the selected clusters, in cluster order.</summary>
    public IReadOnlyList<int> Selected => [.. SelectedClusters.Select(c => c.Representative)];

    /// <summary>
    /// A cheap "is the cluster set stable?" signal for incremental use: SHA-256 (16 hex digits) over the selected
    /// clusters' members and representatives. Indices of earlier embeddings do not change when more are appended,
    /// so equal fingerprints across batches mean the same extracted set.
    /// </summary>
    public string Fingerprint
    {
        get
        {
            var sb = new StringBuilder();
            foreach (var c in SelectedClusters)
                sb.Append(c.Representative).Append(':').AppendJoin(',', c.Members).Append(';');
            return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())))[..16];
        }
    }
}

/// <summary>
/// FineXtract's clustering (official Cluster.py <c>cluster_progress</c>), made deterministic:
/// <list type="number">
/// <item>Start threshold = the <b>exact</b> <see cref="CliqueClusteringOptions.StartQuantile"/> quantile of all
/// off-diagonal similarities (each pair once, linear interpolation), floored to a multiple of the step. The official
/// code estimates it from 1000 unseeded random entries of the full matrix; the exact value is what that estimate
/// aims at, without the randomness.</item>
/// <item>Each round builds the graph with edges at similarity ≥ threshold and partitions it greedily: repeatedly
/// remove a largest clique until no vertex is left, singletons included. Under the default
/// <see cref="CliqueBudgetModel.MaximalCliqueEnumeration"/> that is the first largest maximal clique in
/// Bron–Kerbosch enumeration order (<see cref="MaximalCliques"/>); under
/// <see cref="CliqueBudgetModel.MaximumCliqueSearch"/> the clique <see cref="MaximumClique"/> returns (its tie rule).</item>
/// <item>A round whose partition needs more than the work budget counts like the official 30 s timeout:
/// threshold + step, retry. Otherwise, if it has ≥ N cliques, stop; else threshold + step. The budget model decides
/// which rounds are accepted; the default one counts what the official code does (enumerate all maximal cliques
/// after every removal), so the sweep stops where the graph is sparse enough for that, as the timeout does.</item>
/// </list>
/// Thresholds are integer multiples k·step (no accumulated floating error), compared in float32. The sweep always
/// ends: once the threshold exceeds the largest similarity the graph has no edges and the partition is n
/// singletons, accepted whatever the budget (<see cref="TerminalWork"/>). Representative: the member minimising
/// ‖f − mean(f)‖₂ (double arithmetic, ties to the smallest index). Cluster order: size descending, then smallest first member.
/// <para>Edge cases: n = 0 or n &lt; N is an error (N clusters cannot exist); n = 1 gives one singleton at start
/// threshold 0 (no pairs, quantile taken as 0); N = 0 stops after the first completed round; identical vectors
/// form one clique until the threshold passes their similarity (≈ 1), then n singletons.</para>
/// </summary>
public static class CliqueClustering
{
    public static CliqueClusteringResult Run(IReadOnlyList<float[]> embeddings, CliqueClusteringOptions? options = null) =>
        Run(SimilarityGraph.FromEmbeddings(embeddings), options);

    public static CliqueClusteringResult Run(SimilarityGraph graph, CliqueClusteringOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        options ??= new CliqueClusteringOptions();
        options.Validate();
        int n = graph.Count;
        if (n == 0) throw new FineXtractException("no embeddings to cluster");
        if (n < options.Expected)
            throw new FineXtractException($"cannot form {options.Expected} clusters from {n} embeddings (N must be <= the number of samples)");

        double quantile = graph.OffDiagonalQuantile(options.StartQuantile);
        long k = (long)Math.Floor(quantile / options.Step + 1e-9);
        double start = Round(k * options.Step);
        float maxSimilarity = graph.MaxOffDiagonal();

        var log = new List<ClusteringRound>();
        long totalWork = 0;
        int exceeded = 0;
        int parallel = options.Parallelism > 0 ? options.Parallelism : Environment.ProcessorCount;
        while (true)
        {
            // Rounds are deterministic (node budget, not time), so the next few thresholds can be tried at once;
            // results are read in threshold order and everything after the accepted round is discarded, which
            // gives exactly the sequential sweep's answer, log and work.
            var batch = new (List<int[]>? Cliques, long Work)[parallel];
            long k0 = k;
            Parallel.For(0, parallel, new ParallelOptions { MaxDegreeOfParallelism = parallel }, i =>
            {
                double t = Round((k0 + i) * options.Step);
                batch[i] = (float)t > maxSimilarity
                    ? (Singletons(n), TerminalWork(n, options.BudgetModel))
                    : Partition(graph.Adjacency(t), options.Budget, options.BudgetModel);
            });
            foreach (var (partition, roundWork) in batch)
            {
                double threshold = Round(k * options.Step);
                totalWork += roundWork;
                log.Add(new ClusteringRound(threshold, partition is null, roundWork, partition?.Count));
                if (partition is null)
                {
                    exceeded++;
                    k++;
                    continue;
                }
                if (partition.Count >= options.Expected)
                {
                    var clusters = partition
                        .Select(members => new CliqueCluster(members, Representative(graph, members)))
                        .OrderByDescending(c => c.Size).ThenBy(c => c.Members[0])
                        .ToList();
                    var selected = options.Selection == SelectionMode.Faithful ? clusters : clusters.Take(options.Expected).ToList();
                    return new CliqueClusteringResult(quantile, start, threshold, log.Count, exceeded, totalWork, log, clusters, selected, options);
                }
                k++;
            }
        }
    }

    /// <summary>Greedy clique partition under the given budget model (see <see cref="CliqueBudgetModel"/>).</summary>
    public static (List<int[]>? Cliques, long Work) Partition(IReadOnlyList<ulong[]> adjacency, long budget, CliqueBudgetModel model) =>
        model switch
        {
            CliqueBudgetModel.MaximalCliqueEnumeration => PartitionByEnumeration(adjacency, budget),
            CliqueBudgetModel.MaximumCliqueSearch => Partition(adjacency, budget),
            _ => throw new FineXtractException($"unknown budget model {model}"),
        };

    /// <summary>
    /// Greedy clique partition of a graph: repeatedly remove a maximum clique until the graph is empty.
    /// Cliques is null when more than <paramref name="budget"/> search nodes would be needed; Work is what was spent.
    /// Once the largest clique is a single vertex the rest are singletons (no further search).
    /// </summary>
    public static (List<int[]>? Cliques, long Work) Partition(IReadOnlyList<ulong[]> adjacency, long budget)
    {
        var search = new MaximumClique(adjacency);
        var parts = new List<int[]>();
        long work = 0;
        int bound = int.MaxValue;
        while (search.Remaining > 0)
        {
            var found = search.Find(budget - work, bound);
            work += found.Work;
            if (!found.Completed) return (null, work);
            var clique = found.Clique!;
            if (clique.Length == 1)
            {
                foreach (int v in search.RemainingVertices()) parts.Add([v]);
                break;
            }
            parts.Add(clique);
            search.Remove(clique);
            bound = clique.Length;
        }
        return (parts, work);
    }

    /// <summary>
    /// The official greedy partition, <c>while G: cliques = list(nx.find_cliques(G)); remove max(cliques, key=len)</c>,
    /// with its cost: the Bron–Kerbosch recursion calls of every enumeration, summed (<see cref="MaximalCliques"/>,
    /// which also fixes the tie rule: the first largest clique in enumeration order). Cliques is null when the
    /// sum would pass <paramref name="budget"/>; counting stops there and Work is budget + 1. Once no edge is
    /// left the k remaining vertices are removed one per step and each step enumerates k', the remaining count,
    /// isolated vertices at 1 + k' calls; that tail is added in closed form instead of being run.
    /// </summary>
    public static (List<int[]>? Cliques, long Work) PartitionByEnumeration(IReadOnlyList<ulong[]> adjacency, long budget)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(budget);
        long over = budget == long.MaxValue ? long.MaxValue : budget + 1;
        var enumeration = new MaximalCliques(adjacency);
        var parts = new List<int[]>();
        long work = 0;
        while (enumeration.Remaining > 0)
        {
            var found = enumeration.Enumerate(budget - work);
            if (!found.Completed) return (null, over);
            work += found.Calls;
            var clique = found.Largest!;
            if (clique.Length == 1)
            {
                long tail = EdgelessEnumerationCalls(enumeration.Remaining - 1);
                if (tail > budget - work) return (null, over);
                work += tail;
                foreach (int v in enumeration.RemainingVertices()) parts.Add([v]);
                break;
            }
            parts.Add(clique);
            enumeration.Remove(clique);
        }
        return (parts, work);
    }

    /// <summary>
    /// Enumeration calls of the official loop on k isolated vertices: steps with k, k − 1, …, 1 vertices, each a
    /// root call plus one leaf per vertex: Σ_{j=1..k} (1 + j) = k + k(k + 1)/2.
    /// </summary>
    public static long EdgelessEnumerationCalls(long k) => k <= 0 ? 0 : k + k * (k + 1) / 2;

    /// <summary>
    /// Work recorded for the terminal round (threshold above the largest similarity: no edge, n singletons).
    /// That round is accepted whatever its cost so that the sweep always ends (the official code would instead
    /// give up with no output once the threshold passes 1). Enumeration: the closed-form edgeless cost; search: 0,
    /// as no search is run.
    /// </summary>
    internal static long TerminalWork(int n, CliqueBudgetModel model) =>
        model == CliqueBudgetModel.MaximalCliqueEnumeration ? EdgelessEnumerationCalls(n) : 0;

    /// <summary>The member minimising ‖f − mean(f)‖₂ over normalised embeddings (double; ties → smallest index).</summary>
    public static int Representative(SimilarityGraph graph, IReadOnlyList<int> members)
    {
        if (members.Count == 0) throw new ArgumentException("empty cluster", nameof(members));
        int d = graph.Dimension;
        var mean = new double[d];
        foreach (int m in members)
        {
            var e = graph.Embedding(m);
            for (int i = 0; i < d; i++) mean[i] += e[i];
        }
        for (int i = 0; i < d; i++) mean[i] /= members.Count;
        int best = -1;
        double bestDistance = double.PositiveInfinity;
        foreach (int m in members.Order())
        {
            var e = graph.Embedding(m);
            double s = 0;
            for (int i = 0; i < d; i++)
            {
                double x = e[i] - mean[i];
                s += x * x;
            }
            if (s < bestDistance)
            {
                bestDistance = s;
                best = m;
            }
        }
        return best;
    }

    private static List<int[]> Singletons(int n) => [.. Enumerable.Range(0, n).Select(i => new[] { i })];

    /// <summary>Rounds a threshold to 10 decimals so that k·step prints as the decimal it stands for.</summary>
    internal static double Round(double x) => Math.Round(x, 10);
}
