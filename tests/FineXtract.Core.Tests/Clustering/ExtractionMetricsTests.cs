using FineXtract.Extraction.Metrics;

namespace FineXtract.Tests.Clustering;

public class ExtractionMetricsTests
{
    [Fact]
    public void HandComputedAverageSimilarityAndSuccessRates()
    {
        // References are basis vectors; each extracted vector's cosines are read off its coordinates.
        float[][] refs = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
        float[][] extracted =
        [
            [0.8f, 0.6f, 0, 0],           // ref0: 0.8, ref1: 0.6
            [0.6f, 0, 0.8f, 0],           // ref0: 0.6, ref2: 0.8
            [0, 0.28f, 0, 0.96f],         // ref1: 0.28, ref3: 0.96
            [0.7f, 0.5f, 0.5f, 0.1f],     // ref0: 0.7 exactly (in float), ref1: 0.5, ref2: 0.5, ref3: 0.1
        ];
        var m = ExtractionMetrics.Compute(refs, ["a", "b", "c", "d"], extracted, ["e0", "e1", "e2", "e3"], [0.8, 0.96]);

        Assert.Equal([0, 0, 1, 2], m.Matches.Select(x => x.Match));      // ref1: 0.6 (e0) beats 0.5 and 0.28
        Assert.Equal(["e0", "e0", "e1", "e2"], m.Matches.Select(x => x.MatchName));
        Assert.Equal(["a", "b", "c", "d"], m.Matches.Select(x => x.ReferenceName));
        double[] best = [0.8, 0.6, 0.8, 0.96];
        for (int i = 0; i < 4; i++) Assert.Equal(best[i], m.Matches[i].Similarity, 6);
        Assert.Equal(best.Average(), m.AverageSimilarity, 6);

        Assert.Equal([0.5, 0.6, 0.7, 0.8, 0.96], m.SuccessRates.Select(r => r.Threshold));
        Assert.Equal(1.0, m.SuccessRate(0.5));
        Assert.Equal(1.0, m.SuccessRate(0.6));   // 0.6 >= 0.6
        Assert.Equal(0.75, m.SuccessRate(0.7));
        Assert.Equal(0.75, m.SuccessRate(0.8));  // 0.8 >= 0.8 (float32 comparison)
        Assert.Equal(0.25, m.SuccessRate(0.96));
        Assert.Throws<ArgumentException>(() => m.SuccessRate(0.65));
    }

    [Fact]
    public void ExactlySevenTenthsCountsAsExtracted()
    {
        float[][] refs = [[1, 0, 0, 0]];
        var hit = ExtractionMetrics.Compute(refs, null, [[0.7f, 0.5f, 0.5f, 0.1f]], null);
        Assert.Equal(0.7f, hit.Matches[0].Similarity);
        Assert.Equal(1.0, hit.SuccessRate(0.7));
        Assert.Equal("0", hit.Matches[0].MatchName);

        var miss = ExtractionMetrics.Compute(refs, null, [[0.69f, 0.5f, 0.5f, 0.1f]], null);
        Assert.Equal(0.0, miss.SuccessRate(0.7));
        Assert.Equal(1.0, miss.SuccessRate(0.6));
    }

    [Fact]
    public void TiesGoToTheFirstExtractedImageAndOracleIsTheSameFunction()
    {
        float[][] refs = [[1, 0], [0, 1]];
        float[][] generated = [[0, 1], [1, 1], [2, 2], [1, 0]];
        var m = ExtractionMetrics.Oracle(refs, null, generated, null);
        Assert.Equal(3, m.Matches[0].Match);
        Assert.Equal(0, m.Matches[1].Match);
        Assert.Equal(1.0, m.AverageSimilarity, 6);

        var subset = ExtractionMetrics.Compute(refs, null, generated[1..3], null);
        Assert.Equal(0, subset.Matches[0].Match); // [1,1] and [2,2] tie after normalisation
        Assert.True(subset.AverageSimilarity <= m.AverageSimilarity);
    }

    [Fact]
    public void BadInputIsAUserError()
    {
        float[][] refs = [[1, 0]];
        Assert.Throws<FineXtractException>(() => ExtractionMetrics.Compute(refs, null, [], null));
        Assert.Throws<FineXtractException>(() => ExtractionMetrics.Compute([], null, refs, null));
        Assert.Throws<FineXtractException>(() => ExtractionMetrics.Compute(refs, null, [[1, 0, 0]], null));
        Assert.Throws<FineXtractException>(() => ExtractionMetrics.Compute(refs, ["a", "b"], refs, null));
        Assert.Throws<FineXtractException>(() => ExtractionMetrics.Compute(refs, null, [[0, 0]], null));
    }
}
