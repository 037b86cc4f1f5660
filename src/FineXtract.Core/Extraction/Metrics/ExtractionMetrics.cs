using FineXtract.Extraction.Clustering;

namespace FineXtract.Extraction.Metrics;

/// <summary>The best extracted match of one reference (training) image.</summary>
/// <param name="Reference">Index of the reference image.</param>
/// <param name="ReferenceName">Its name.</param>
/// <param name="Match">Index of the most similar extracted image (ties → smallest index).</param>
/// <param name="MatchName">Its name.</param>
/// <param name="Similarity">Their cosine similarity (float32 dot product of the normalised embeddings).</param>
public sealed record ReferenceMatch(int Reference, string ReferenceName, int Match, string MatchName, float Similarity);

/// <summary>AS and A-ESR of one extraction.</summary>
/// <param name="Matches">One per reference image, in reference order.</param>
/// <param name="AverageSimilarity">AS: mean over reference images of the best similarity (double).</param>
/// <param name="SuccessRates">A-ESR per threshold τ (ascending): share of reference images with best similarity ≥ τ.</param>
public sealed record ExtractionMetricsResult(
    IReadOnlyList<ReferenceMatch> Matches,
    double AverageSimilarity,
    IReadOnlyList<(double Threshold, double Rate)> SuccessRates)
{
    /// <summary>A-ESR at τ (must be one of the computed thresholds).</summary>
    public double SuccessRate(double threshold)
    {
        foreach (var (t, rate) in SuccessRates)
            if (t == threshold) return rate;
        throw new ArgumentException($"A-ESR was not computed at {threshold}", nameof(threshold));
    }
}

/// <summary>
/// FineXtract's extraction metrics (method spec §3). For each reference (true training) image x,
/// s(x) = max over extracted images e of cos(f(x), f(e)) with f the (SSCD) embedding;
/// AS = mean s(x); A-ESR_τ = share of x with s(x) ≥ τ.
/// <para>
/// ≥, not &gt;: the mission statement counts an image as extracted when "matched at similarity ≥ 0.7", and later
/// code using the metric name computes mean(s ≥ τ). τ is compared in float32 against the float32 similarity
/// (as PyTorch compares a float32 tensor with a Python scalar), so a similarity that equals 0.7f counts at τ = 0.7.
/// The official code writes only 1 − s(x) per image and their mean (AS), no A-ESR.
/// </para>
/// </summary>
public static class ExtractionMetrics
{
    /// <summary>τ values reported by default: 0.5 (replication, Somepalli et al.), 0.6, 0.7 (complete extraction).</summary>
    public static readonly IReadOnlyList<double> DefaultThresholds = [0.5, 0.6, 0.7];

    /// <summary>
    /// Metrics of an extracted set against the reference images. Names default to indices ("0", "1", …).
    /// Extra <paramref name="thresholds"/> are added to <see cref="DefaultThresholds"/>.
    /// </summary>
    public static ExtractionMetricsResult Compute(
        IReadOnlyList<float[]> references, IReadOnlyList<string>? referenceNames,
        IReadOnlyList<float[]> extracted, IReadOnlyList<string>? extractedNames,
        IEnumerable<double>? thresholds = null)
    {
        ArgumentNullException.ThrowIfNull(references);
        ArgumentNullException.ThrowIfNull(extracted);
        if (references.Count == 0) throw new FineXtractException("no reference (training) embeddings");
        if (extracted.Count == 0) throw new FineXtractException("no extracted embeddings");
        CheckNames(referenceNames, references.Count, "reference");
        CheckNames(extractedNames, extracted.Count, "extracted");
        var refs = Embeddings.Normalise(references, "reference embedding");
        var ext = Embeddings.Normalise(extracted, "extracted embedding", refs[0].Length);
        var taus = DefaultThresholds.Concat(thresholds ?? []).Distinct().Order().ToArray();
        foreach (double t in taus)
            if (!double.IsFinite(t)) throw new FineXtractException($"A-ESR threshold must be finite, got {t}");

        var matches = new ReferenceMatch[refs.Length];
        Parallel.For(0, refs.Length, r =>
        {
            int best = 0;
            float bestSimilarity = float.NegativeInfinity;
            for (int e = 0; e < ext.Length; e++)
            {
                float s = Embeddings.Dot(refs[r], ext[e]);
                if (s > bestSimilarity)
                {
                    bestSimilarity = s;
                    best = e;
                }
            }
            matches[r] = new ReferenceMatch(r, referenceNames?[r] ?? r.ToString(), best,
                extractedNames?[best] ?? best.ToString(), bestSimilarity);
        });
        double average = matches.Average(m => (double)m.Similarity);
        var rates = taus.Select(t => (t, matches.Count(m => m.Similarity >= (float)t) / (double)matches.Length)).ToList();
        return new ExtractionMetricsResult(matches, average, rates);
    }

    /// <summary>
    /// Oracle upper bound: the same metrics with <i>every</i> generated image as a candidate (the official
    /// <c>best_cluster_measurement</c>, "AS- over all 500"). No selection can beat it; the gap to the clustered
    /// result is what the selection loses.
    /// </summary>
    public static ExtractionMetricsResult Oracle(
        IReadOnlyList<float[]> references, IReadOnlyList<string>? referenceNames,
        IReadOnlyList<float[]> generated, IReadOnlyList<string>? generatedNames,
        IEnumerable<double>? thresholds = null) =>
        Compute(references, referenceNames, generated, generatedNames, thresholds);

    private static void CheckNames(IReadOnlyList<string>? names, int count, string what)
    {
        if (names is not null && names.Count != count)
            throw new FineXtractException($"{names.Count} {what} names for {count} {what} embeddings");
    }
}
