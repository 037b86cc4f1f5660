using System.Globalization;
using System.Text;

namespace FineXtract.Benchmarks;

/// <summary>The rows of the paper's table, in its order.</summary>
public static class PaperMethods
{
    public const string Direct = "Direct text-to-image";
    public const string Cfg = "CFG";
    public const string CfgClustering = "CFG + clustering";
    public const string FineXtract = "FineXtract (code-faithful)";
    public const string FineXtractBest = "FineXtract (best variant)";

    public static readonly IReadOnlyList<string> Order = [Direct, Cfg, CfgClustering, FineXtract, FineXtractBest];
}

/// <summary>One method on one fine-tuned model: its AS / A-ESR against that model's training images.</summary>
/// <param name="Extracted">Images the method hands over (N without clustering, the selected clusters with it).</param>
/// <param name="UNetEvaluations">UNet forward passes (batch rows) spent generating.</param>
/// <param name="Reused">Taken from an earlier invocation's evidence folder (the benchmark resumes) rather than run now.</param>
public sealed record PaperRun(
    string Set, string Target, string FineTune, string Method, int TrainingImages, double AverageSimilarity,
    IReadOnlyDictionary<string, double> SuccessRates, int Generated, long UNetEvaluations, int Extracted, double Seconds, string Evidence,
    bool Reused = false);

/// <summary>A table row: one method in one setting (data set × fine-tune kind), averaged over the targets.</summary>
public sealed record PaperRow(
    string Set, string FineTune, string Method, int Targets, double AverageSimilarity, IReadOnlyDictionary<string, double> SuccessRates,
    double Generated, double UNetEvaluations, double Extracted);

public static class PaperTable
{
    public static readonly IReadOnlyList<string> Thresholds = ["0.5", "0.6", "0.7"];

    /// <summary>Means over targets per (set, fine-tune, method), in set, fine-tune and paper order.</summary>
    public static IReadOnlyList<PaperRow> Rows(IEnumerable<PaperRun> runs) =>
        runs.GroupBy(r => (r.Set, r.FineTune, r.Method))
            .OrderBy(g => g.Key.Set, StringComparer.Ordinal).ThenBy(g => g.Key.FineTune, StringComparer.Ordinal)
            .ThenBy(g => Rank(g.Key.Method))
            .Select(g => new PaperRow(g.Key.Set, g.Key.FineTune, g.Key.Method, g.Count(), g.Average(r => r.AverageSimilarity),
                Thresholds.ToDictionary(t => t, t => g.Average(r => r.SuccessRates.GetValueOrDefault(t))),
                g.Average(r => r.Generated), g.Average(r => r.UNetEvaluations), g.Average(r => r.Extracted)))
            .ToList();

    private static int Rank(string method)
    {
        int i = PaperMethods.Order.ToList().IndexOf(method);
        return i < 0 ? int.MaxValue : i;
    }

    /// <summary>The paper-style table in Markdown, one section per setting, with each method's cost.</summary>
    public static string Markdown(IReadOnlyList<PaperRow> rows, string title, IEnumerable<string> notes)
    {
        static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
        static string N(double v) => v.ToString("#,0", CultureInfo.InvariantCulture);
        var md = new StringBuilder();
        md.Append("# ").Append(title).Append("\n\n");
        foreach (var note in notes) md.Append("- ").Append(note).Append('\n');
        md.Append('\n');
        md.Append("| data set | fine-tune | method | targets | AS | A-ESR@0.5 | A-ESR@0.6 | A-ESR@0.7 | extracted | generated | UNet evals |\n");
        md.Append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var r in rows)
        {
            md.Append($"| {r.Set} | {r.FineTune} | {r.Method} | {r.Targets} | {F(r.AverageSimilarity)} | ");
            md.Append(string.Join(" | ", Thresholds.Select(t => F(r.SuccessRates[t]))));
            md.Append($" | {F(r.Extracted)} | {N(r.Generated)} | {N(r.UNetEvaluations)} |\n");
        }
        return md.ToString();
    }

    /// <summary>FineXtract against the CFG baseline per setting: the goal is ≥ 2× its A-ESR@0.7 and ≥ +0.02 AS.</summary>
    public static IEnumerable<string> Verdicts(IReadOnlyList<PaperRow> rows, string method = PaperMethods.FineXtract, string baseline = PaperMethods.Cfg)
    {
        foreach (var setting in rows.GroupBy(r => (r.Set, r.FineTune)))
        {
            var ours = setting.FirstOrDefault(r => r.Method == method);
            var theirs = setting.FirstOrDefault(r => r.Method == baseline);
            if (ours is null || theirs is null) continue;
            double dAs = ours.AverageSimilarity - theirs.AverageSimilarity;
            double e = ours.SuccessRates["0.7"], b = theirs.SuccessRates["0.7"];
            string ratio = b > 0 ? $"{e / b:0.00}×" : e > 0 ? "∞ (baseline 0)" : "0 = 0";
            bool met = dAs >= 0.02 && (b > 0 ? e >= 2 * b : e > 0);
            yield return $"{setting.Key.Set} / {setting.Key.FineTune}: {method} vs {baseline}: AS {dAs:+0.000;-0.000}, A-ESR@0.7 {ratio} → goal {(met ? "met" : "not met")}";
        }
    }
}
