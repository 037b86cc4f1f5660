using FineXtract.Benchmarks;

namespace FineXtract.Tests.Benchmarks;

public sealed class PaperTableTests
{
    private static PaperRun Run(string target, string fineTune, string method, double average, double at07, long evals = 100) =>
        new("wikiart", target, fineTune, method, 10, average, new Dictionary<string, double> { ["0.5"] = at07 + 0.2, ["0.6"] = at07 + 0.1, ["0.7"] = at07 },
            50, evals, 10, 1.0, "runs/x");

    [Fact]
    public void RowsAverageOverTargetsInPaperOrder()
    {
        var rows = PaperTable.Rows([
            Run("a", "lora", PaperMethods.FineXtract, 0.6, 0.4), Run("b", "lora", PaperMethods.FineXtract, 0.4, 0.0),
            Run("a", "lora", PaperMethods.Cfg, 0.3, 0.1), Run("a", "dreambooth", PaperMethods.Direct, 0.2, 0.0, evals: 50),
        ]);
        Assert.Equal([("dreambooth", PaperMethods.Direct), ("lora", PaperMethods.Cfg), ("lora", PaperMethods.FineXtract)],
            rows.Select(r => (r.FineTune, r.Method)));
        var ours = rows[2];
        Assert.Equal(2, ours.Targets);
        Assert.Equal(0.5, ours.AverageSimilarity, 12);
        Assert.Equal(0.2, ours.SuccessRates["0.7"], 12);
        Assert.Equal(0.3, ours.SuccessRates["0.6"], 12);
        Assert.Equal(50, rows[0].UNetEvaluations);
    }

    [Fact]
    public void VerdictComparesFineXtractWithTheCfgBaseline()
    {
        var met = PaperTable.Verdicts(PaperTable.Rows([Run("a", "lora", PaperMethods.FineXtract, 0.55, 0.4), Run("a", "lora", PaperMethods.Cfg, 0.5, 0.2)])).Single();
        Assert.Contains("AS +0.050", met);
        Assert.Contains("2.00×", met);
        Assert.EndsWith("goal met", met);
        var notMet = PaperTable.Verdicts(PaperTable.Rows([Run("a", "lora", PaperMethods.FineXtract, 0.51, 0.4), Run("a", "lora", PaperMethods.Cfg, 0.5, 0.2)])).Single();
        Assert.EndsWith("goal not met", notMet);
        var fromZero = PaperTable.Verdicts(PaperTable.Rows([Run("a", "lora", PaperMethods.FineXtract, 0.6, 0.1), Run("a", "lora", PaperMethods.Cfg, 0.5, 0.0)])).Single();
        Assert.Contains("baseline 0", fromZero);
        Assert.EndsWith("goal met", fromZero);
    }

    [Fact]
    public void MarkdownHasOneLinePerRowWithCosts()
    {
        var rows = PaperTable.Rows([Run("a", "lora", PaperMethods.FineXtract, 0.6, 0.4, evals: 12345)]);
        string md = PaperTable.Markdown(rows, "T", ["note one"]);
        Assert.StartsWith("# T\n\n- note one\n", md);
        Assert.Contains("| wikiart | lora | FineXtract (code-faithful) | 1 | 0.600 | 0.600 | 0.500 | 0.400 | 10.000 | 50 | 12,345 |", md);
    }
}
