namespace FineXtract.Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class ClusteringGrainTests(ClusterFixture fx)
{
    /// <summary>Three tight clusters 120° apart; each batch adds a noisy point to each. The cluster set settles and stays.</summary>
    private static float[][] Batch(int batch)
    {
        var random = new Random(batch);
        return Enumerable.Range(0, 3).Select(c =>
        {
            double angle = 2 * Math.PI * c / 3;
            var v = new float[] { (float)Math.Cos(angle), (float)Math.Sin(angle), 0, 0 };
            if (batch > 0) for (int k = 0; k < v.Length; k++) v[k] += (float)(random.NextDouble() - 0.5) * 0.02f;
            return v;
        }).ToArray();
    }

    [Fact]
    public async Task ReportsStableOnceTheExtractedSetStopsChanging()
    {
        var grain = fx.Client.GetGrain<IClusteringGrain>("clustering-stable");
        await grain.Configure(new ClusteringSettings(Expected: 3, WorkBudget: 1_000_000, ExactN: true, Patience: 2, MinImages: 3));
        ClusterUpdate update = null!;
        var log = new List<string>();
        for (int b = 0; b < 8 && update?.Stable != true; b++)
        {
            update = await grain.AddBatch(b * 3, Batch(b));
            log.Add($"{update.Merged}:{update.Fingerprint}:{update.UnchangedFor}");
        }
        Assert.True(update.Stable, string.Join(" | ", log));
        Assert.Equal(3, update.Clusters);
        Assert.InRange(update.Merged, 9, 18);
    }

    [Fact]
    public async Task BatchesAreIdempotentAndMergedInImageOrder()
    {
        var grain = fx.Client.GetGrain<IClusteringGrain>("clustering-order");
        await grain.Configure(new ClusteringSettings(3, 1_000_000, true, 0, 0));
        var later = await grain.AddBatch(3, Batch(1));
        Assert.Equal(0, later.Merged); // waits for images 0..2
        var first = await grain.AddBatch(0, Batch(0));
        Assert.Equal(6, first.Merged);
        var duplicate = await grain.AddBatch(3, Batch(1));
        Assert.Equal(6, duplicate.Merged);
        Assert.Equal([0L, 3L], duplicate.Batches);
        var all = await grain.GetEmbeddings();
        Assert.Equal(Batch(0)[0], all[0]);
        Assert.Equal(Batch(1)[2], all[5]);
    }
}
