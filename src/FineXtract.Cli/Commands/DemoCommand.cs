using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using FineXtract.Benchmarks;
using FineXtract.Cli.Benchmarks;
using Spectre.Console;

namespace FineXtract.Cli.Commands;

/// <summary>
/// <c>finextract demo</c>: the README's main job. Attacks the shipped miniature DreamBooth checkpoint and LoRA (both
/// fine-tuned on real images, see demo/README.md) through an embedded silo with the CFG baseline and FineXtract,
/// scores them against the true training images, writes an evidence folder per run and prints the AS / A-ESR table.
/// </summary>
public static class DemoCommand
{
    public const int DefaultImages = 50;
    public const int DefaultSteps = 30;

    public static Command Create()
    {
        var models = new Option<string?>("--models") { Description = "Demo bundle folder (default: the repository's demo/)" };
        var images = new Option<int>("--images") { DefaultValueFactory = _ => DefaultImages, Description = "Images generated per model and method" };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => DefaultSteps, Description = "Denoising steps" };
        var methods = new Option<string[]>("--methods") { DefaultValueFactory = _ => ["cfg", "finextract"], AllowMultipleArgumentsPerToken = true, Description = "direct, cfg, finextract, finextract-best" };
        var output = new Option<string>("--out") { DefaultValueFactory = _ => "out/demo", Description = "Output folder (evidence folder per model and method, paper-table.md/.json)" };
        var command = new Command("demo", "Run FineXtract on the shipped miniature DreamBooth checkpoint and LoRA and print the AS / A-ESR table")
        {
            models, images, steps, methods, output,
        };
        command.SetAction(async (parse, cancel) =>
        {
            var watch = Stopwatch.StartNew();
            var bundle = DemoBundle.Open(DemoBundle.Locate(parse.GetValue(models)));
            var log = parse.InvocationConfiguration.Error;
            bundle.Verify();
            var target = bundle.Target;
            log.WriteLine($"demo: {bundle.Root} (SHA-256 verified); {target.ImageCount} training images of {target.Key}, caption \"{target.Caption}\"");
            var runs = new List<ModelUnderTest>
            {
                new(target, "dreambooth", new Extraction.Pipeline.ModelSources(bundle.BasePath, bundle.DreamBoothPath, null)),
                new(target, "lora", new Extraction.Pipeline.ModelSources(bundle.BasePath, null, bundle.LoraPath)),
            };
            var plan = new ExtractionPlan { Images = parse.GetValue(images), Steps = parse.GetValue(steps), Methods = parse.GetValue(methods)! };
            string outDir = parse.GetValue(output)!;
            var results = await PaperBenchmark.ExtractAllAsync(parse, runs, plan, outDir, log, cancel);
            PaperBenchmark.Write(outDir, "FineXtract demo (miniature world)", new { bundle = bundle.Root, bundle.Description, plan }, results,
                [$"{plan.Images} images × {plan.Steps} steps per model and method; descriptor {plan.Descriptor} (not SSCD)"], watch.Elapsed.TotalSeconds);
            Print(parse, PaperTable.Rows(results), outDir, watch.Elapsed);
            return 0;
        });
        return command;
    }

    private static void Print(ParseResult parse, IReadOnlyList<PaperRow> rows, string outDir, TimeSpan elapsed)
    {
        static string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(parse.InvocationConfiguration.Output) });
        console.Profile.Width = Math.Max(console.Profile.Width, 110); // logs and pipes report 80 columns; the table needs more

        var table = new Table().AddColumns("fine-tune", "method", "AS", "A-ESR@0.6", "A-ESR@0.7", "extracted", "UNet evals");
        foreach (var r in rows)
            table.AddRow(r.FineTune, r.Method, F(r.AverageSimilarity), F(r.SuccessRates["0.6"]), F(r.SuccessRates["0.7"]),
                r.Extracted.ToString("0", CultureInfo.InvariantCulture), r.UNetEvaluations.ToString("#,0", CultureInfo.InvariantCulture));
        console.Write(table);
        console.WriteLine($"wall-clock {elapsed.TotalMinutes:F1} min; table: {Path.Combine(outDir, PaperBenchmark.MarkdownFile)}; " +
            $"evidence: {Path.Combine(outDir, "runs")}/…/report.html");
    }
}
