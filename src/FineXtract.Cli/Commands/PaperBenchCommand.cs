using System.CommandLine;
using System.Diagnostics;
using FineXtract.Benchmarks;
using FineXtract.Cli.Benchmarks;
using FineXtract.Extraction.Clustering;
using FineXtract.Extraction.Pipeline;
using FineXtract.Extraction.Sampling;
using TorchSharp;

namespace FineXtract.Cli.Commands;

/// <summary>
/// <c>finextract bench paper</c>: the paper's table on the miniature world (or any data laid out the same way).
/// <c>--quick</c> is one target per set with a small generation budget (≤ 15 min on 2 cores); the full run is every
/// target of every set.
/// </summary>
public static class PaperBenchCommand
{
    /// <summary>Fine-tune settings of the miniature world (chosen so the 5.8 M-parameter UNet memorises partly; see README).</summary>
    public const int MiniatureStepsPerImage = 200;
    public const double MiniatureDreamBoothLearningRate = 5e-5;
    public const double MiniatureLoraLearningRate = 1e-3;
    public const int MiniatureLoraRank = 16;
    public const string MiniatureLoraTargets = "locon";

    public static Command Create()
    {
        var basePath = new Option<string>("--base") { Required = true, Description = "Pretrained base pipeline folder (e.g. demo/models/base)" };
        var data = new Option<string>("--data") { DefaultValueFactory = _ => "../shared/data", Description = "Data folder with <set>/<name>/*.jpg and a captions file per set" };
        var sets = new Option<string[]>("--sets") { DefaultValueFactory = _ => ["wikiart", "dreambooth"], AllowMultipleArgumentsPerToken = true, Description = "Sets to use" };
        var names = new Option<string[]>("--names") { AllowMultipleArgumentsPerToken = true, Description = "Only these targets (folder names)" };
        var perSet = new Option<int?>("--per-set") { Description = "First N targets of each set (default: all; --quick: 1)" };
        var fineTunes = new Option<string[]>("--finetunes") { DefaultValueFactory = _ => [.. PaperBenchmark.AllFineTunes], AllowMultipleArgumentsPerToken = true, Description = "dreambooth, lora" };
        var stepsPerImage = new Option<int?>("--steps-per-image") { Description = $"Fine-tune steps per training image (default {MiniatureStepsPerImage}; --quick: 100)" };
        var dbLr = new Option<double>("--dreambooth-lr") { DefaultValueFactory = _ => MiniatureDreamBoothLearningRate, Description = "DreamBooth learning rate" };
        var loraLr = new Option<double>("--lora-lr") { DefaultValueFactory = _ => MiniatureLoraLearningRate, Description = "LoRA learning rate" };
        var rank = new Option<int>("--lora-rank") { DefaultValueFactory = _ => MiniatureLoraRank, Description = "LoRA rank (alpha = rank)" };
        var loraTargets = new Option<string>("--lora-targets") { DefaultValueFactory = _ => MiniatureLoraTargets, Description = "attention | transformer | locon (see train lora --targets)" };
        loraTargets.AcceptOnlyFromAmong("attention", "transformer", "locon");
        var images = new Option<int?>("--images") { Description = "Images generated per model and method (default 100; --quick: 30)" };
        var steps = new Option<int?>("--steps") { Description = "Denoising steps (default 50; --quick: 20)" };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => ExtractionDefaults.Batch, Description = "Images per batch" };
        var methods = new Option<string[]>("--methods") { DefaultValueFactory = _ => [.. PaperBenchmark.AllMethods], AllowMultipleArgumentsPerToken = true, Description = "direct, cfg (gives CFG and CFG + clustering), finextract, finextract-best" };
        var bestSampler = new Option<string>("--best-sampler") { DefaultValueFactory = _ => "faithful", Description = "Best variant: faithful | ddim" };
        bestSampler.AcceptOnlyFromAmong("faithful", "ddim");
        var bestSelect = new Option<string>("--best-select") { DefaultValueFactory = _ => "exact-n", Description = "Best variant: faithful | exact-n" };
        bestSelect.AcceptOnlyFromAmong("faithful", "exact-n");
        var bestGuidance = new Option<double?>("--best-guidance") { Description = "Best variant: w (default: the method's)" };
        var bestFix = new Option<double?>("--best-fix-term") { Description = "Best variant: k (default: the method's)" };
        var quick = new Option<bool>("--quick") { Description = "One target (the first DreamBooth subject unless --sets), 100 steps per image, 30 images of 20 steps" };
        var threads = new Option<int?>("--threads") { Description = "libtorch intra-op threads" };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 0, Description = "Seed of fine-tuning and generation" };
        var output = new Option<string>("--out") { Required = true, Description = "Output folder (fine-tunes, evidence folders, paper-table.json/.md); rerun to resume" };
        var descriptor = new DescriptorOptions();
        var command = new Command("paper", "The paper's table: fine-tune on each target, extract with direct, CFG, CFG + clustering and FineXtract, average AS / A-ESR")
        {
            basePath, data, sets, names, perSet, fineTunes, stepsPerImage, dbLr, loraLr, rank, loraTargets, images, steps, batch, methods, bestSampler, bestSelect,
            bestGuidance, bestFix, quick, threads, seed, output,
        };
        descriptor.AddTo(command);
        command.SetAction(async (parse, cancel) =>
        {
            var watch = Stopwatch.StartNew();
            bool isQuick = parse.GetValue(quick);
            if (parse.GetValue(threads) is { } t)
            {
                if (t < 1) throw new FineXtractException($"--threads must be at least 1, got {t}");
                torch.set_num_threads(t);
            }
            string baseDir = parse.GetValue(basePath)!;
            if (!File.Exists(Path.Combine(baseDir, "model_index.json"))) throw new FineXtractException($"{baseDir}: not a pipeline folder (no model_index.json)");
            var kinds = parse.GetValue(fineTunes)!;
            var unknown = kinds.Except(PaperBenchmark.AllFineTunes).ToList();
            if (unknown.Count > 0) throw new FineXtractException($"unknown fine-tune {string.Join(", ", unknown)} (use dreambooth, lora)");
            // --quick: one DreamBooth subject unless --sets says otherwise (≤ 15 min on 2 cores).
            bool setsGiven = parse.GetResult(sets) is { Implicit: false };
            string[] chosenSets = isQuick && !setsGiven ? ["dreambooth"] : parse.GetValue(sets)!;
            var targets = FineTuneSets.Discover(parse.GetValue(data)!, chosenSets, parse.GetValue(names), parse.GetValue(perSet) ?? (isQuick ? 1 : null));
            var fineTune = new FineTuneSettings(parse.GetValue(stepsPerImage) ?? (isQuick ? 100 : MiniatureStepsPerImage), parse.GetValue(dbLr), parse.GetValue(loraLr),
                parse.GetValue(rank), parse.GetValue(rank), parse.GetValue(seed), parse.GetValue(loraTargets)!);
            if (fineTune.StepsPerImage < 1) throw new FineXtractException($"--steps-per-image must be at least 1, got {fineTune.StepsPerImage}");
            var plan = new ExtractionPlan
            {
                Images = parse.GetValue(images) ?? (isQuick ? 30 : 100),
                Steps = parse.GetValue(steps) ?? (isQuick ? 20 : ExtractionDefaults.Steps),
                Batch = parse.GetValue(batch),
                Seed = parse.GetValue(seed),
                Methods = parse.GetValue(methods)!,
                BestSampler = SamplingNames.Sampler(parse.GetValue(bestSampler)!),
                BestSelection = parse.GetValue(bestSelect) == "exact-n" ? SelectionMode.ExactN : SelectionMode.Faithful,
                BestGuidance = parse.GetValue(bestGuidance),
                BestFixTerm = parse.GetValue(bestFix),
                Descriptor = parse.GetValue(descriptor.Descriptor)!,
                Preprocessing = parse.GetValue(descriptor.Preprocess)!,
            };
            plan.Validate();
            string outDir = parse.GetValue(output)!;
            var log = parse.InvocationConfiguration.Error;
            log.WriteLine($"paper table: {targets.Count} targets ({string.Join(", ", targets.Select(x => x.Key))}) × {string.Join(", ", kinds)}; " +
                $"{plan.Images} images × {plan.Steps} steps per method ({string.Join(", ", plan.Methods)})");
            var models = PaperBenchmark.PrepareFineTunes(parse, baseDir, targets, kinds, fineTune, outDir, log);
            var runs = await PaperBenchmark.ExtractAllAsync(parse, models, plan, outDir, log, cancel);
            var notes = new List<string>
            {
                $"command: finextract {string.Join(' ', Environment.GetCommandLineArgs().Skip(1))}",
                $"base {baseDir}; fine-tunes: {fineTune.StepsPerImage} steps/image, DreamBooth lr {fineTune.DreamBoothLearningRate:G3}, LoRA lr {fineTune.LoraLearningRate:G3} rank {fineTune.LoraRank} on {fineTune.LoraTargets}",
                $"{plan.Images} images × {plan.Steps} steps per model and method; best variant: sampler {SamplingNames.Of(plan.BestSampler)}, selection {parse.GetValue(bestSelect)}" +
                    $"{(plan.BestGuidance is { } w ? $", w {w}" : "")}{(plan.BestFixTerm is { } k ? $", k {k}" : "")}",
                $"descriptor {plan.Descriptor} ({plan.Preprocessing} preprocessing); CFG and direct rows score the first N generated images (no clustering)",
            };
            string markdown = PaperBenchmark.Write(outDir, "FineXtract paper table (miniature world)", new { targets = targets.Select(x => x.Key), kinds, fineTune, plan },
                runs, notes, watch.Elapsed.TotalSeconds);
            parse.InvocationConfiguration.Output.WriteLine(markdown);
            return 0;
        });
        return command;
    }
}
