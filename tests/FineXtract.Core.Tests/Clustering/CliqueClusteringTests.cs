using FineXtract.Extraction.Clustering;

namespace FineXtract.Tests.Clustering;

public class CliqueClusteringTests
{
    private static readonly CliqueClusteringOptions Five = new(Expected: 5);

    [Theory]
    [InlineData(SelectionMode.Faithful, CliqueBudgetModel.MaximalCliqueEnumeration)]
    [InlineData(SelectionMode.ExactN, CliqueBudgetModel.MaximalCliqueEnumeration)]
    [InlineData(SelectionMode.Faithful, CliqueBudgetModel.MaximumCliqueSearch)]
    [InlineData(SelectionMode.ExactN, CliqueBudgetModel.MaximumCliqueSearch)]
    public void RecoversPlantedCliquesAndRepresentatives(SelectionMode mode, CliqueBudgetModel model)
    {
        var (vectors, groups, reps) = PlantedEmbeddings.Build();
        var r = CliqueClustering.Run(vectors, Five with { Selection = mode, BudgetModel = model });
        Assert.Equal(model, r.Options.BudgetModel);
        Assert.Equal(CliqueClusteringOptions.DefaultBudget(model), r.Options.Budget);

        Assert.Equal(0.47, r.StartThreshold);
        Assert.Equal(0.48, r.Threshold);
        Assert.Equal(0.49, r.OfficialThresholdLabel);
        Assert.Equal("0.49_1", r.OfficialDirectoryName);
        Assert.Equal(2, r.Rounds);
        Assert.Equal(0, r.BudgetExceededRounds);
        Assert.Equal(1, r.RoundLog[0].Cliques); // at 0.47 everything is one clique
        Assert.Equal(groups.Length + PlantedEmbeddings.Singletons, r.M);

        for (int g = 0; g < groups.Length; g++)
        {
            Assert.Equal(groups[g], r.Clusters[g].Members); // sizes 8, 6, 5, 4, 3 come first, in that order
            Assert.Equal(reps[g], r.Clusters[g].Representative);
            Assert.NotEqual(groups[g][0], reps[g]);
        }
        var singles = r.Clusters.Skip(groups.Length).ToList();
        Assert.All(singles, c => Assert.Equal(c.Members[0], c.Representative));
        Assert.Equal(Enumerable.Range(groups.Sum(g => g.Length), PlantedEmbeddings.Singletons), singles.Select(c => c.Members.Single()));

        if (mode == SelectionMode.ExactN) Assert.Equal(reps, r.Selected);
        else Assert.Equal(r.Clusters.Select(c => c.Representative), r.Selected);
    }

    [Fact]
    public void SameInputSameResultAndShuffledInputSameGroups()
    {
        var (vectors, _, _) = PlantedEmbeddings.Build();
        var a = CliqueClustering.Run(vectors, Five);
        var b = CliqueClustering.Run(vectors.Select(v => v.ToArray()).ToArray(), Five);
        Assert.Equal(Describe(a, i => i), Describe(b, i => i));
        Assert.Equal(a.Fingerprint, b.Fingerprint);
        Assert.Equal(a.TotalWork, b.TotalWork);

        var perm = Enumerable.Range(0, vectors.Length).ToArray();
        new Random(99).Shuffle(perm); // shuffled[k] = vectors[perm[k]]
        var shuffled = perm.Select(i => vectors[i]).ToArray();
        var s = CliqueClustering.Run(shuffled, Five);
        Assert.Equal(a.Threshold, s.Threshold);
        Assert.Equal(Describe(a, i => i), Describe(s, k => perm[k]));
    }

    /// <summary>Clusters as sets of original indices with their representatives, order-independent.</summary>
    private static string[] Describe(CliqueClusteringResult r, Func<int, int> toOriginal) =>
        [.. r.Clusters.Select(c => $"{toOriginal(c.Representative)}:{string.Join(',', c.Members.Select(toOriginal).Order())}").Order()];

    [Fact]
    public void BudgetExceededRaisesTheThresholdAndStillEnds()
    {
        var (vectors, _, _) = PlantedEmbeddings.Build();
        var r = CliqueClustering.Run(vectors, Five with { WorkBudget = 1 });
        // Every graph with an edge needs more than one node: the threshold climbs until no edge is left.
        Assert.True(r.BudgetExceededRounds > 0);
        Assert.Equal(r.Rounds - 1, r.BudgetExceededRounds);
        Assert.All(r.RoundLog.SkipLast(1), round => Assert.True(round.BudgetExceeded));
        Assert.Equal(vectors.Length, r.M);
        Assert.True(r.Threshold > 0.9);
        for (int i = 1; i < r.RoundLog.Count; i++)
            Assert.Equal(0.01, r.RoundLog[i].Threshold - r.RoundLog[i - 1].Threshold, 9);
        Assert.Equal(r.RoundLog.Sum(x => x.Work), r.TotalWork);

        // Trying thresholds in parallel is only a speed-up: same rounds, same work, same answer.
        foreach (int parallel in new[] { 1, 3, 8 })
        {
            var p = CliqueClustering.Run(vectors, Five with { WorkBudget = 1, Parallelism = parallel });
            Assert.Equal(r.RoundLog, p.RoundLog);
            Assert.Equal(r.TotalWork, p.TotalWork);
            Assert.Equal(r.Fingerprint, p.Fingerprint);
        }

        // A budget between what the two rounds need: the dense first round times out, the next one completes.
        // (Search model: the all-in-one-clique first round costs more search nodes than the second. Enumerating
        // it is cheap — Kₙ has one maximal clique — so the enumeration model has no such budget here.)
        var search = Five with { BudgetModel = CliqueBudgetModel.MaximumCliqueSearch };
        var unlimited = CliqueClustering.Run(vectors, search with { WorkBudget = long.MaxValue });
        long first = unlimited.RoundLog[0].Work, second = unlimited.RoundLog[1].Work;
        Assert.True(first > second, $"first round {first}, second {second}");
        var cut = CliqueClustering.Run(vectors, search with { WorkBudget = second });
        Assert.True(cut.RoundLog[0].BudgetExceeded);
        Assert.Equal(0.48, cut.Threshold);
        Assert.Equal(unlimited.M, cut.M);
    }

    [Fact]
    public void DenseRoundsExceedTheEnumerationBudgetAndTheThresholdRises()
    {
        // Extraction-shaped data: diffuse style samples make the start graph dense, with far more maximal cliques
        // than the budget allows, while a maximum-clique search finishes it at once.
        var data = FineXtract.Cli.Benchmarks.SyntheticEmbeddings.Generate(120, 64, seed: 2);
        var graph = SimilarityGraph.FromEmbeddings(data.Vectors);
        const long budget = 300_000;
        var enumeration = CliqueClustering.Run(graph, Five with { WorkBudget = budget });
        var search = CliqueClustering.Run(graph, Five with { BudgetModel = CliqueBudgetModel.MaximumCliqueSearch });

        Assert.Equal(1, search.Rounds); // the search model stops at the start threshold
        Assert.Equal(search.StartThreshold, search.Threshold);

        Assert.Equal(enumeration.StartThreshold, search.StartThreshold);
        Assert.True(enumeration.BudgetExceededRounds >= 3, $"{enumeration.BudgetExceededRounds} rounds exceeded");
        Assert.Equal(enumeration.Rounds - 1, enumeration.BudgetExceededRounds);
        Assert.All(enumeration.RoundLog.SkipLast(1), round =>
        {
            Assert.True(round.BudgetExceeded);
            Assert.Equal(budget + 1, round.Work); // counting stops as soon as the budget is passed
            Assert.Null(round.Cliques);
        });
        Assert.True(enumeration.Threshold > enumeration.StartThreshold + 0.05);
        Assert.True(enumeration.M > search.M, $"enumeration M {enumeration.M}, search M {search.M}");

        // The accepted round is the enumeration partition of its graph, within budget; the one before is not.
        var (parts, work) = CliqueClustering.PartitionByEnumeration(graph.Adjacency(enumeration.Threshold), long.MaxValue);
        Assert.Equal(enumeration.RoundLog[^1].Work, work);
        Assert.True(work <= budget);
        Assert.Equal(parts!.Count, enumeration.M);
        var before = CliqueClustering.PartitionByEnumeration(graph.Adjacency(enumeration.Threshold - 0.01), budget);
        Assert.Null(before.Cliques);

        // More planted near-duplicate groups get a representative than at the dense start threshold.
        int Hits(CliqueClusteringResult r) => data.Groups.Count(g => r.Clusters.Any(c => Array.BinarySearch(g, c.Representative) >= 0));
        Assert.True(Hits(enumeration) > Hits(search), $"enumeration {Hits(enumeration)}, search {Hits(search)}");

        // Deterministic, and the speculative parallel sweep changes nothing.
        foreach (int parallel in new[] { 1, 3 })
        {
            var again = CliqueClustering.Run(graph, Five with { WorkBudget = budget, Parallelism = parallel });
            Assert.Equal(enumeration.RoundLog, again.RoundLog);
            Assert.Equal(enumeration.Fingerprint, again.Fingerprint);
        }
    }

    [Fact]
    public void EdgeCases()
    {
        var (vectors, _, _) = PlantedEmbeddings.Build();
        var tooFew = Assert.Throws<FineXtractException>(() => CliqueClustering.Run(vectors[..3], Five));
        Assert.Contains("cannot form 5 clusters from 3", tooFew.Message);

        var one = CliqueClustering.Run(vectors[..1], new(Expected: 1));
        Assert.Equal(0, one.Threshold);
        Assert.Equal([0], one.Clusters.Single().Members);

        var zero = CliqueClustering.Run(vectors, new(Expected: 0, Selection: SelectionMode.ExactN));
        Assert.Equal(1, zero.Rounds); // the first completed round has >= 0 cliques
        Assert.Equal(0.47, zero.Threshold);
        Assert.Empty(zero.Selected);

        var same = Enumerable.Range(0, 6).Select(_ => new float[] { 1, 2, 3 }).ToArray();
        var together = CliqueClustering.Run(same, new(Expected: 1));
        Assert.Equal(Enumerable.Range(0, 6), together.Clusters.Single().Members);
        Assert.Equal(0, together.Clusters.Single().Representative);
        var apart = CliqueClustering.Run(same, new(Expected: 2));
        Assert.Equal(6, apart.M);
        Assert.True(apart.Threshold > 0.99);

        Assert.Throws<FineXtractException>(() => CliqueClustering.Run([[1f, 0f], [float.NaN, 1f]]));
        Assert.Throws<FineXtractException>(() => CliqueClustering.Run([[1f, 0f], [0f, 0f]]));
        Assert.Throws<FineXtractException>(() => CliqueClustering.Run([[1f, 0f], [1f, 0f, 0f]]));
        Assert.Throws<FineXtractException>(() => CliqueClustering.Run(Array.Empty<float[]>()));
        Assert.Throws<FineXtractException>(() => CliqueClustering.Run(vectors, new(Expected: -1)));
        Assert.Throws<FineXtractException>(() => CliqueClustering.Run(vectors, new(Step: 0)));
    }

    [Fact]
    public void RepresentativeIsNearestTheUnnormalisedMean()
    {
        // Unit vectors at angles 0°, 10°, 50°: the mean direction is about 20°, so 10° is nearest.
        float[] At(double deg) => [(float)Math.Cos(deg * Math.PI / 180), (float)Math.Sin(deg * Math.PI / 180)];
        var graph = SimilarityGraph.FromEmbeddings([At(0), At(10), At(50), At(10)]);
        Assert.Equal(1, CliqueClustering.Representative(graph, [0, 1, 2]));
        Assert.Equal(1, CliqueClustering.Representative(graph, [0, 1, 2, 3])); // exact tie with 3: smallest index
        Assert.Equal(2, CliqueClustering.Representative(graph, [2]));
    }

    [Fact]
    public void SimilarityGraphAppendEqualsOneShotBuild()
    {
        var rng = new Random(5);
        var all = Enumerable.Range(0, 150).Select(_ => Enumerable.Range(0, 37).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray()).ToArray();
        var once = SimilarityGraph.FromEmbeddings(all);
        var grown = new SimilarityGraph(37);
        Assert.Equal(0, grown.Append(all[..10]));
        Assert.Equal(10, grown.Append(all[10..11]));
        Assert.Equal(11, grown.Append(all[11..100]));
        Assert.Equal(100, grown.Append(all[100..]));
        Assert.Equal(150, grown.Count);
        for (int i = 0; i < 150; i++)
        {
            Assert.True(once.Row(i).SequenceEqual(grown.Row(i)), $"row {i}");
            Assert.Equal(0f, once[i, i]);
            for (int j = 0; j < i; j++) Assert.Equal(once[i, j], once[j, i]);
        }
        var quick = new CliqueClusteringOptions(WorkBudget: 20_000); // random vectors: dense rounds would each cost the default budget
        Assert.Equal(CliqueClustering.Run(once, quick).Fingerprint, CliqueClustering.Run(grown, quick).Fingerprint);
        Assert.Throws<FineXtractException>(() => grown.Append([new float[36]]));

        // Exact quantile against a sort; adjacency uses >=.
        var pairs = new List<float>();
        for (int i = 1; i < 150; i++) for (int j = 0; j < i; j++) pairs.Add(once[i, j]);
        pairs.Sort();
        foreach (double q in new[] { 0.0, 0.25, 0.5, 0.9, 1.0 })
        {
            double pos = q * (pairs.Count - 1);
            int lo = (int)Math.Floor(pos);
            double expected = lo + 1 < pairs.Count ? pairs[lo] + (pos - lo) * ((double)pairs[lo + 1] - pairs[lo]) : pairs[lo];
            Assert.Equal(expected, once.OffDiagonalQuantile(q), 12);
        }
        float t = once[3, 7];
        var adj = once.Adjacency(t);
        Assert.NotEqual(0UL, adj[3][7 >> 6] & (1UL << 7));
        Assert.Equal(0UL, adj[3][0] & (1UL << 3)); // no self-loop
    }
}
