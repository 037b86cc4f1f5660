using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using FineXtract.Benchmarks;
using FineXtract.Extraction.Clustering;
using FineXtract.Extraction.Evidence;
using FineXtract.Extraction.Pipeline;
using FineXtract.Extraction.Sampling;
using FineXtract.Silo;
using FineXtract.Training;

namespace FineXtract.Cli.Benchmarks;

/// <summary>A fine-tuned model under test and the images it was trained on.</summary>
public sealed record ModelUnderTest(FineTuneTarget Target, string FineTune, ModelSources Models);

/// <summary>How the fine-tunes are trained (miniature-scale settings; the real scripts' are the train verbs' defaults).</summary>
public sealed record FineTuneSettings(int StepsPerImage, double DreamBoothLearningRate, double LoraLearningRate, int LoraRank, double LoraAlpha, long Seed,
    string LoraTargets = "attention");

/// <summary>How every model is attacked: the generation budget, the methods, and what the "best variant" changes.</summary>
public sealed record ExtractionPlan
{
    public int Images { get; init; } = 100;
    public int Steps { get; init; } = ExtractionDefaults.Steps;
    public int Batch { get; init; } = ExtractionDefaults.Batch;
    public long Seed { get; init; } = ExtractionDefaults.Seed;
    /// <summary>direct, cfg (its images give both the "CFG" and the "CFG + clustering" rows), finextract, finextract-best.</summary>
    public IReadOnlyList<string> Methods { get; init; } = PaperBenchmark.AllMethods;
    public SamplerMode BestSampler { get; init; } = SamplerMode.Faithful;
    public SelectionMode BestSelection { get; init; } = SelectionMode.ExactN;
    public double? BestGuidance { get; init; }
    public double? BestFixTerm { get; init; }
    public string Descriptor { get; init; } = ExtractionDefaults.Descriptor;
    public string Preprocessing { get; init; } = "finextract";

    public void Validate()
    {
        if (Images < 1) throw new FineXtractException($"--images must be at least 1, got {Images}");
        if (Steps < 1 || Steps > 1000) throw new FineXtractException($"--steps must be 1..1000, got {Steps}");
        var unknown = Methods.Except(PaperBenchmark.AllMethods).ToList();
        if (unknown.Count > 0) throw new FineXtractException($"unknown method {string.Join(", ", unknown)} (use {string.Join(", ", PaperBenchmark.AllMethods)})");
    }
}

/// <summary>
/// The paper-table benchmark: fine-tune (DreamBooth and LoRA) on every target, attack each model with direct
/// text-to-image, CFG, CFG + clustering and FineXtract through one embedded silo, and average AS / A-ESR per setting.
/// Everything is cached in the output folder (fine-tunes by their training record, extractions by results.json), so
/// an interrupted run continues where it stopped.
/// </summary>
public static class PaperBenchmark
{
    public static readonly IReadOnlyList<string> AllMethods = ["direct", "cfg", "finextract", "finextract-best"];
    public static readonly IReadOnlyList<string> AllFineTunes = ["dreambooth", "lora"];
    public const string JsonFile = "paper-table.json";
    public const string MarkdownFile = "paper-table.md";

    /// <summary>Trains the fine-tunes that are not in <paramref name="output"/> yet (resuming interrupted ones).</summary>
    public static List<ModelUnderTest> PrepareFineTunes(ParseResult parse, string basePath, IReadOnlyList<FineTuneTarget> targets,
        IReadOnlyList<string> fineTunes, FineTuneSettings settings, string output, TextWriter log)
    {
        var models = new List<ModelUnderTest>();
        int index = 0, total = targets.Count * fineTunes.Count;
        foreach (var target in targets)
        foreach (var kind in fineTunes)
        {
            index++;
            string dir = Path.Combine(output, "finetunes", target.Set, target.Name);
            string title = $"[{index}/{total}] {kind} {target.Key}";
            if (kind == "dreambooth")
            {
                string record = Path.Combine(dir, "dreambooth", "finextract_training.json");
                if (!File.Exists(record)) Train(parse, title, log, target, settings, settings.DreamBoothLearningRate, Path.Combine(dir, "dreambooth", "checkpoints"),
                    (job, progress, l, cancel) => DreamBoothTrainer.Run(job, Path.Combine(dir, "dreambooth"), FineTuneFormat.Diffusers, progress, l, cancel), basePath);
                else log.WriteLine($"{title}: trained already ({record})");
                models.Add(new ModelUnderTest(target, kind, new ModelSources(basePath, Path.Combine(dir, "dreambooth"), null)));
            }
            else
            {
                string file = Path.Combine(dir, "lora.safetensors");
                if (!File.Exists(file)) Train(parse, title, log, target, settings, settings.LoraLearningRate, LoraTrainer.CheckpointDirFor(file),
                    (job, progress, l, cancel) => LoraTrainer.Run(job, new LoraSettings(settings.LoraRank, settings.LoraAlpha, $"{target.Name}-lora", Targets: settings.LoraTargets), file, progress, l, cancel),
                    basePath);
                else log.WriteLine($"{title}: trained already ({file})");
                models.Add(new ModelUnderTest(target, kind, new ModelSources(basePath, null, file)));
            }
        }
        return models;
    }

    private static void Train(ParseResult parse, string title, TextWriter log, FineTuneTarget target, FineTuneSettings settings, double learningRate, string checkpoints,
        Func<FineTuneJob, Action<TrainingProgress>, Action<string>, CancellationToken, TrainingResult> run, string basePath)
    {
        var entries = ImageCaptionDataset.ReadFolder(target.ImagesFolder, target.Caption);
        int resolution = FineTuneModels.ResolutionOf(basePath);
        using var data = new ImageCaptionDataset(entries, new Augmentation(resolution));
        var options = new TrainingOptions
        {
            Steps = settings.StepsPerImage * data.DistinctPaths.Count,
            LearningRate = learningRate,
            Seed = settings.Seed,
            Resume = TrainingLoop.LatestCheckpoint(checkpoints) is not null,
            CheckpointDir = checkpoints,
            CheckpointEvery = 250,
        };
        options.Validate();
        var job = new FineTuneJob(basePath, data, settings.StepsPerImage, options, Fp16: false);
        log.WriteLine($"{title}: \"{target.Caption}\", {data.DistinctPaths.Count} images × {settings.StepsPerImage} steps, lr {learningRate:G3}");
        var result = TrainingDisplay.Run(parse, title, 100, (progress, l, cancel) => run(job, progress, l, cancel));
        if (result.Outcome == TrainingOutcome.Cancelled)
            throw new OperationCanceledException($"cancelled while training {target.Key}; rerun the same command to resume");
    }

    /// <summary>Attacks every model with every method of the plan (one embedded silo) and returns the table's runs.</summary>
    public static async Task<List<PaperRun>> ExtractAllAsync(ParseResult parse, IReadOnlyList<ModelUnderTest> models, ExtractionPlan plan, string output,
        TextWriter log, CancellationToken cancel)
    {
        plan.Validate();
        var runs = new List<PaperRun>();
        await using var silo = await EmbeddedSilo.StartAsync(cancel: CancellationToken.None);
        int index = 0, total = models.Count * plan.Methods.Count;
        foreach (var model in models)
        foreach (var method in plan.Methods)
        {
            index++;
            cancel.ThrowIfCancellationRequested();
            var request = Request(model, method, plan, Path.Combine(output, "runs", model.Target.Set, model.Target.Name, model.FineTune, method));
            string title = $"[{index}/{total}] {model.FineTune} {model.Target.Key} {method}";
            var watch = Stopwatch.StartNew();
            var reused = Reusable(request);
            var results = reused ?? await ProgressDisplay.RunAsync(parse, title, (progress, token) => silo.ExtractAsync(request, progress, token), cancel);
            if (results.Status != "completed") throw new OperationCanceledException($"cancelled during {title}; rerun the same command to continue");
            var m = results.Metrics ?? throw new FineXtractException($"{request.OutputFolder}: no metrics (reference folder {model.Target.ImagesFolder} empty?)");
            log.WriteLine($"{title}: AS {m.AverageSimilarity:0.000} (first N {m.FirstNAverageSimilarity:0.000}), A-ESR@0.7 {m.SuccessRates["0.7"]:0.00}, " +
                $"M {results.Clustering?.M}, {watch.Elapsed.TotalSeconds:F0} s");
            runs.AddRange(Rows(model, method, results, request.OutputFolder, reused is not null));
        }
        return runs;
    }

    private static ExtractionRequest Request(ModelUnderTest model, string method, ExtractionPlan plan, string folder)
    {
        bool best = method == "finextract-best";
        return new ExtractionRequest
        {
            Models = model.Models,
            Prompt = model.Target.Caption,
            Method = method switch { "direct" => ExtractionMethod.Direct, "cfg" => ExtractionMethod.Cfg, _ => ExtractionMethod.FineXtract },
            GuidanceScale = best ? plan.BestGuidance : null,
            FixTerm = best ? plan.BestFixTerm : null,
            Sampler = best ? plan.BestSampler : ExtractionDefaults.Sampler,
            Selection = best ? plan.BestSelection : ExtractionDefaults.Selection,
            Images = plan.Images,
            Batch = plan.Batch,
            Steps = plan.Steps,
            Seed = plan.Seed,
            Expected = model.Target.ImageCount,
            Descriptor = plan.Descriptor,
            Preprocessing = plan.Preprocessing,
            ReferenceFolder = model.Target.ImagesFolder,
            OutputFolder = folder,
        };
    }

    /// <summary>A finished earlier run with the same parameters, if any (the benchmark resumes instead of regenerating).</summary>
    private static ExtractionResults? Reusable(ExtractionRequest request)
    {
        string file = Path.Combine(request.OutputFolder, EvidenceBuilder.ResultsFile);
        if (!File.Exists(file)) return null;
        try
        {
            var r = ResultsJson.Read(file);
            var p = r.Parameters;
            var g = request.Guidance();
            bool same = r.Status == "completed" && r.Metrics is not null && p.Images == request.Images && p.Steps == request.Steps && p.Batch == request.Batch
                && p.Seed == request.Seed && p.Method == SamplingNames.Of(request.Method) && p.Sampler == SamplingNames.Of(request.Sampler)
                && p.Selection == (request.Selection == SelectionMode.ExactN ? "exact-n" : "faithful") && p.Expected == request.Expected
                && (request.GuidanceScale is null || Math.Abs(p.GuidanceScale - g.Scale) < 1e-12)
                && (request.FixTerm is null || Math.Abs(p.FixTerm - g.FixTerm) < 1e-12)
                && p.Descriptor.Preprocessing == request.Preprocessing;
            return same ? r : null;
        }
        catch (FineXtractException)
        {
            return null;
        }
    }

    /// <summary>The table rows one extraction gives: CFG's images count both unclustered and clustered.</summary>
    private static IEnumerable<PaperRun> Rows(ModelUnderTest model, string method, ExtractionResults r, string folder, bool reused)
    {
        var m = r.Metrics!;
        PaperRun Run(string name, double average, IReadOnlyDictionary<string, double> rates, int extracted) =>
            new(model.Target.Set, model.Target.Name, model.FineTune, name, model.Target.ImageCount, average, rates, r.Generated.Count,
                r.Generated.UNetEvaluations, extracted, r.Timings.TotalSeconds, folder, reused);
        switch (method)
        {
            case "direct":
                yield return Run(PaperMethods.Direct, m.FirstNAverageSimilarity, m.FirstNSuccessRates, m.FirstN);
                break;
            case "cfg":
                yield return Run(PaperMethods.Cfg, m.FirstNAverageSimilarity, m.FirstNSuccessRates, m.FirstN);
                yield return Run(PaperMethods.CfgClustering, m.AverageSimilarity, m.SuccessRates, r.Extracted.Count);
                break;
            case "finextract":
                yield return Run(PaperMethods.FineXtract, m.AverageSimilarity, m.SuccessRates, r.Extracted.Count);
                break;
            default:
                yield return Run(PaperMethods.FineXtractBest, m.AverageSimilarity, m.SuccessRates, r.Extracted.Count);
                break;
        }
    }

    /// <summary>Writes paper-table.json and paper-table.md and returns the Markdown.</summary>
    public static string Write(string output, string title, object settings, IReadOnlyList<PaperRun> runs, IReadOnlyList<string> notes, double wallSeconds)
    {
        var rows = PaperTable.Rows(runs);
        // Against the stronger baseline (CFG + clustering, same images and budget) first, then plain CFG.
        var verdicts = PaperTable.Verdicts(rows, PaperMethods.FineXtract, PaperMethods.CfgClustering)
            .Concat(PaperTable.Verdicts(rows, PaperMethods.FineXtractBest, PaperMethods.CfgClustering))
            .Concat(PaperTable.Verdicts(rows, PaperMethods.FineXtract, PaperMethods.Cfg)).ToList();
        int reused = runs.Where(r => r.Reused).Select(r => r.Evidence).Distinct().Count();
        string reusedNote = reused > 0 ? $" ({reused} extractions reused from an earlier invocation, not timed again)" : "";
        var allNotes = notes.Concat([$"wall-clock of this invocation {wallSeconds / 60:F1} min{reusedNote}"]).Concat(verdicts).ToList();
        string markdown = PaperTable.Markdown(rows, title, allNotes);
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, MarkdownFile), markdown);
        var document = new { title, settings, wallSeconds, rows, verdicts, runs, tool = EvidenceBuilder.ToolInfo() };
        File.WriteAllText(Path.Combine(output, JsonFile), JsonSerializer.Serialize(document, JsonDefaults.Output));
        return markdown;
    }
}
