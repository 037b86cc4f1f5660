using System.Diagnostics;
using FineXtract.Checkpoints;
using FineXtract.Checkpoints.Lora;
using FineXtract.Extraction.Clustering;
using FineXtract.Extraction.Descriptors;
using FineXtract.Extraction.Evidence;
using FineXtract.Extraction.Imaging;
using FineXtract.Extraction.Metrics;
using FineXtract.Extraction.Prompts;
using FineXtract.Extraction.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace FineXtract.Extraction.Pipeline;

/// <summary>Where a run is: phase, images done, UNet evaluations per second, time left.</summary>
public sealed record ExtractionProgress(string Phase, int ImagesDone, int ImagesTotal, double UNetEvaluationsPerSecond, TimeSpan? Remaining);

/// <summary>
/// One checkpoint audit on one machine: load the models once, recover or take the prompt, generate the seed batches,
/// embed, cluster, select, evaluate against a reference folder, and write the evidence folder
/// (images/, extracted/, embeddings.safetensors, results.json, report.html). Cancellation stops after the current
/// denoising step and still writes a valid partial result over the images finished so far.
/// </summary>
public static class ExtractionRunner
{
    public const string ImagesFolder = "images";
    public const string ExtractedFolder = "extracted";
    public const string ResultsFile = "results.json";
    public const string ReportFile = "report.html";
    public const string EmbeddingsFile = "embeddings.safetensors";

    public static string ImageFileName(long index) => $"{index:D6}.png";

    public static ExtractionResults Run(ExtractionRequest request, IProgress<ExtractionProgress>? progress = null, CancellationToken cancel = default)
    {
        request.Validate();
        var started = DateTimeOffset.UtcNow;
        var total = Stopwatch.StartNew();
        string output = request.OutputFolder;
        Directory.CreateDirectory(Path.Combine(output, ImagesFolder));
        if (Directory.Exists(Path.Combine(output, ExtractedFolder))) Directory.Delete(Path.Combine(output, ExtractedFolder), true);
        Directory.CreateDirectory(Path.Combine(output, ExtractedFolder));

        progress?.Report(new ExtractionProgress("hashing inputs", 0, request.Images, 0, null));
        var inputs = InputHashing.Describe(request);

        progress?.Report(new ExtractionProgress("loading models", 0, request.Images, 0, null));
        var phase = Stopwatch.StartNew();
        using var models = ExtractionModels.Load(request.Models);
        var metadata = ReadFineTuneMetadata(request.Models);
        string? loraFormat = null;
        if (request.Models.LoraPath is { } lp)
        {
            using var lora = LoraAdapter.Open(lp);
            loraFormat = lora.Format;
        }
        double loadSeconds = phase.Elapsed.TotalSeconds;

        phase.Restart();
        var prompt = ResolvePrompt(request, models, metadata, progress);
        double promptSeconds = phase.Elapsed.TotalSeconds;

        using var descriptor = DescriptorFactory.Create(request.Descriptor, DescriptorPreprocessing.Parse(request.Preprocessing));
        var guidance = request.Guidance();
        int latentSize = request.LatentSize ?? models.PretrainedUnet.Config.SampleSize;
        var settings = new SamplingSettings(prompt.Text, guidance, request.Sampler, request.Steps, request.Seed, latentSize);
        settings.Validate();
        using var sampler = new SeedBatchSampler(models, settings);

        // Generate and embed, batch by batch.
        phase.Restart();
        var embeddings = new List<float[]>();
        double embeddingSeconds = 0;
        bool cancelled = false;
        long evaluations = 0;
        for (int start = 0; start < request.Images && !cancelled; start += request.Batch)
        {
            var indices = Enumerable.Range(start, Math.Min(request.Batch, request.Images - start)).Select(i => (long)i).ToList();
            try
            {
                using var batch = sampler.Generate(indices, cancel: cancel);
                var images = new List<Tensor>();
                for (int i = 0; i < indices.Count; i++)
                {
                    var image = batch.Images[i];
                    ImageIO.SavePng(image, Path.Combine(output, ImagesFolder, ImageFileName(indices[i])));
                    images.Add(image);
                }
                var embedTimer = Stopwatch.StartNew();
                embeddings.AddRange(descriptor.Embed(images));
                embeddingSeconds += embedTimer.Elapsed.TotalSeconds;
                foreach (var image in images) image.Dispose();
                evaluations += (long)indices.Count * sampler.UNetEvaluationsPerImage;
            }
            catch (OperationCanceledException)
            {
                cancelled = true;
                break;
            }
            double rate = evaluations / Math.Max(phase.Elapsed.TotalSeconds, 1e-9);
            int done = embeddings.Count;
            var remaining = TimeSpan.FromSeconds(phase.Elapsed.TotalSeconds / done * (request.Images - done));
            progress?.Report(new ExtractionProgress("sampling", done, request.Images, rate, remaining));
            if (cancel.IsCancellationRequested) cancelled = true;
        }
        double samplingSeconds = phase.Elapsed.TotalSeconds - embeddingSeconds;
        int generated = embeddings.Count;
        var names = Enumerable.Range(0, generated).Select(i => $"{ImagesFolder}/{ImageFileName(i)}").ToList();
        if (generated > 0) WriteEmbeddings(Path.Combine(output, EmbeddingsFile), embeddings, names, descriptor.Name);

        // Reference set: how many images were trained on, and what the metrics compare against.
        List<string>? referenceFiles = request.ReferenceFolder is null ? null : ImageIO.ListImages(request.ReferenceFolder).ToList();
        int expected = request.Expected ?? NumTrainImages(metadata) ?? referenceFiles?.Count ?? ExtractionDefaults.Expected;

        ClusteringRecord? clustering = null;
        var extracted = new List<ExtractedRecord>();
        MetricsRecord? metrics = null;
        phase.Restart();
        if (generated >= 1)
        {
            progress?.Report(new ExtractionProgress("clustering", generated, request.Images, 0, null));
            var result = CliqueClustering.Run(embeddings, new CliqueClusteringOptions(
                Expected: Math.Min(expected, generated), WorkBudget: request.ClusterWorkBudget, Selection: request.Selection));
            clustering = new ClusteringRecord(result.Options.Selection == SelectionMode.ExactN ? "exact-n" : "faithful", result.Threshold,
                result.OfficialDirectoryName, result.StartThreshold, result.M, result.Rounds, result.BudgetExceededRounds, result.TotalWork,
                result.Clusters.Select(c => new ClusterRecord(c.Size, c.Representative, c.Members)).ToList());
            var selected = result.SelectedClusters;
            var extractedFiles = new List<string>();
            for (int rank = 0; rank < selected.Count; rank++)
            {
                int image = selected[rank].Representative;
                string file = $"{ExtractedFolder}/{rank + 1:D3}_{ImageFileName(image)}";
                File.Copy(Path.Combine(output, ImagesFolder, ImageFileName(image)), Path.Combine(output, file), overwrite: true);
                extractedFiles.Add(file);
            }

            if (referenceFiles is { Count: > 0 })
            {
                progress?.Report(new ExtractionProgress("evaluating", generated, request.Images, 0, null));
                var referenceEmbeddings = descriptor.EmbedFiles(referenceFiles);
                var referenceNames = referenceFiles.Select(Path.GetFileName).Select(n => n!).ToList();
                var selectedEmbeddings = selected.Select(c => embeddings[c.Representative]).ToList();
                var m = ExtractionMetrics.Compute(referenceEmbeddings, referenceNames, selectedEmbeddings, extractedFiles);
                var oracle = ExtractionMetrics.Compute(referenceEmbeddings, referenceNames, embeddings, names);
                metrics = new MetricsRecord(descriptor.Name, m.AverageSimilarity, Rates(m), m.Matches
                    .Select(x => new ReferenceMatchRecord(x.ReferenceName, x.MatchName, selected[x.Match].Representative, x.Similarity)).ToList(),
                    oracle.AverageSimilarity, Rates(oracle));
                // Best reference for each extracted image, for the report's side-by-side view.
                for (int rank = 0; rank < selected.Count; rank++)
                {
                    var e = embeddings[selected[rank].Representative];
                    int best = 0;
                    double bestSim = double.NegativeInfinity;
                    for (int r = 0; r < referenceEmbeddings.Length; r++)
                    {
                        double s = ImageDescriptorExtensions.Similarity(e, referenceEmbeddings[r]);
                        if (s > bestSim) (best, bestSim) = (r, s);
                    }
                    extracted.Add(new ExtractedRecord(rank + 1, selected[rank].Representative, extractedFiles[rank], selected[rank].Size, referenceNames[best], bestSim));
                }
            }
            else
            {
                for (int rank = 0; rank < selected.Count; rank++)
                    extracted.Add(new ExtractedRecord(rank + 1, selected[rank].Representative, extractedFiles[rank], selected[rank].Size, null, null));
            }
        }
        double clusteringSeconds = phase.Elapsed.TotalSeconds;

        var results = new ExtractionResults
        {
            Tool = ToolInfo(),
            Status = cancelled ? "cancelled" : "completed",
            StartedAt = started,
            FinishedAt = DateTimeOffset.UtcNow,
            Inputs = inputs,
            BaseFamily = models.BaseFamily,
            FineTune = new FineTuneRecord(request.Models.Kind == FineTuneKind.Lora ? "lora" : "full",
                request.Models.Kind == FineTuneKind.Lora ? request.Models.LoraScale : null, loraFormat, models.LoraModulesMerged,
                models.FineTunedTextEncoderDiffers),
            Prompt = prompt,
            Parameters = new ParametersRecord(
                SamplingNames.Of(guidance.Method), SamplingNames.Of(guidance.Variant), guidance.Scale, guidance.FixTerm, SamplingNames.Of(request.Sampler),
                models.Scheduler.ClassName ?? "PNDMScheduler", request.Steps, request.Images, request.Batch, request.Seed, latentSize,
                latentSize * models.Vae.Config.DownFactor, request.Selection == SelectionMode.ExactN ? "exact-n" : "faithful", expected,
                request.ClusterWorkBudget,
                new DescriptorRecord(descriptor.Name, descriptor.IsSscd, descriptor.Dimension, request.Preprocessing,
                    descriptor.IsSscd ? null : "builtin descriptor, NOT SSCD: similarities are not comparable to the paper's SSCD scores"),
                "image i starts from torch.randn([C,h,w]) on a CPU generator seeded with SplitMix64(seed·2^32 + i) & 0xFFFFFFFF; batches are consecutive index ranges of size 'batch'"),
            Generated = new GeneratedRecord(generated, ImagesFolder, evaluations, sampler.UNetEvaluationsPerImage),
            Clustering = clustering,
            Extracted = extracted,
            Metrics = metrics,
            Timings = new TimingsRecord(loadSeconds, promptSeconds, samplingSeconds, embeddingSeconds, clusteringSeconds,
                total.Elapsed.TotalSeconds, evaluations / Math.Max(samplingSeconds, 1e-9)),
        };
        ResultsJson.Write(Path.Combine(output, ResultsFile), results);
        ReportWriter.Write(Path.Combine(output, ReportFile), results, output, request.ReferenceFolder);
        progress?.Report(new ExtractionProgress(cancelled ? "cancelled" : "done", generated, request.Images, 0, TimeSpan.Zero));
        return results;
    }

    private static PromptRecord ResolvePrompt(ExtractionRequest request, ExtractionModels models, IReadOnlyDictionary<string, string>? metadata,
        IProgress<ExtractionProgress>? progress)
    {
        if (!string.Equals(request.Prompt.Trim(), "auto", StringComparison.OrdinalIgnoreCase))
            return new PromptRecord(request.Prompt, "given", null, null);
        progress?.Report(new ExtractionProgress("recovering the prompt", 0, request.Images, 0, null));
        var choice = PromptRecovery.Recover(models, metadata, new PromptProbeOptions(Seed: request.Seed));
        return new PromptRecord(choice.Prompt, "auto", choice.Reason,
            choice.Candidates.Select(c => new PromptCandidateRecord(c.Prompt, c.Source, c.Score, c.Evidence)).ToList());
    }

    /// <summary>kohya and civitai record metadata in the LoRA or single-file checkpoint; diffusers folders have none.</summary>
    public static IReadOnlyDictionary<string, string>? ReadFineTuneMetadata(ModelSources sources)
    {
        string? file = sources.LoraPath ?? (File.Exists(sources.FineTunedPath) ? sources.FineTunedPath : null);
        if (file is null) return null;
        using var f = SafeTensorsFile.Open(file);
        return new Dictionary<string, string>(f.Metadata);
    }

    private static int? NumTrainImages(IReadOnlyDictionary<string, string>? metadata) =>
        metadata is not null && metadata.TryGetValue("ss_num_train_images", out var v) && int.TryParse(v, out int n) && n > 0 ? n : null;

    private static Dictionary<string, double> Rates(ExtractionMetricsResult m) =>
        m.SuccessRates.ToDictionary(r => r.Threshold.ToString("0.0#", System.Globalization.CultureInfo.InvariantCulture), r => r.Rate);

    private static void WriteEmbeddings(string path, List<float[]> embeddings, List<string> names, string descriptor)
    {
        int d = embeddings[0].Length;
        var flat = new float[embeddings.Count * d];
        for (int i = 0; i < embeddings.Count; i++) embeddings[i].CopyTo(flat, i * d);
        using var t = tensor(flat, [embeddings.Count, d]);
        SafeTensorsWriter.Write(path, new Dictionary<string, Tensor> { ["embeddings"] = t }, new Dictionary<string, string>
        {
            ["files"] = System.Text.Json.JsonSerializer.Serialize(names),
            ["descriptor"] = descriptor,
        });
    }

    public static ToolInfo ToolInfo() => new("finextract", typeof(ExtractionRunner).Assembly.GetName().Version?.ToString() ?? "0",
        typeof(torch).Assembly.GetName().Version?.ToString() ?? "?", "cpu", "float32", get_num_threads(),
        $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");
}
