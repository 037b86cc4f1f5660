using System.Globalization;
using FineXtract.Extraction.Evidence;
using FineXtract.Extraction.Pipeline;

namespace FineXtract.Cli;

/// <summary>The few lines a user reads after an extraction.</summary>
public static class Summary
{
    public static void Print(TextWriter output, ExtractionResults r, string folder)
    {
        string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
        output.WriteLine($"{r.Status}: {r.Generated.Count} images, {r.Extracted.Count} extracted (M = {r.Clustering?.M ?? 0}, threshold {F(r.Clustering?.Threshold ?? 0)}), prompt \"{r.Prompt.Text}\"");
        if (r.Metrics is { } m)
        {
            output.WriteLine($"AS {F(m.AverageSimilarity)}  " + string.Join("  ", m.SuccessRates.Select(kv => $"A-ESR@{kv.Key} {F(kv.Value)}"))
                + $"   (all generated: AS {F(m.OracleAverageSimilarity)})");
        }
        output.WriteLine($"evidence: {Path.Combine(folder, EvidenceBuilder.ReportFile)}");
    }
}
