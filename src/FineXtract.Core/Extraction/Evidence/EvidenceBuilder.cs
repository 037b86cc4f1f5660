using System.Diagnostics;
using FineXtract.Checkpoints;
using FineXtract.Extraction.Clustering;
using FineXtract.Extraction.Descriptors;
using FineXtract.Extraction.Imaging;
using FineXtract.Extraction.Metrics;
using FineXtract.Extraction.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace FineXtract.Extraction.Evidence;

/// <summary>
/// Turns the generated images of a run into its evidence folder: clusters and selects (the extracted images, copied to
/// <c>extracted/</c>), measures AS / A-ESR against the reference folder, and writes <c>embeddings.safetensors</c>,
/// <c>results.json</c> and <c>report.html</c>. Needs no models: reference images are embedded through a callback, so a
/// control-plane machine can build the bundle from what samplers returned.
/// </summary>
public static class EvidenceBuilder
{
    public const string ImagesFolder = "images";
    public const string ExtractedFolder = "extracted";
    public const string ResultsFile = "results.json";
    public const string ReportFile = "report.html";
    public const string EmbeddingsFile = "embeddings.safetensors";

    public static string ImageFileName(long index) => $"{index:D6}.png";

    public static string ImageFile(long index) => $"{ImagesFolder}/{ImageFileName(index)}";

    /// <param name="embeddings">Embedding of image i at position i, for images 0..n−1.</param>
    /// <param name="embedReferences">Embeds reference image files with the run's descriptor (needed when the request has a reference folder).</param>
    public static ExtractionResults Build(ExtractionContext context, IReadOnlyList<float[]> embeddings, Func<IReadOnlyList<string>, float[][]>? embedReferences,
        string status, DateTimeOffset startedAt, long unetEvaluations, double samplingSeconds, double embeddingSeconds, double elapsedSeconds,
        EarlyStopRecord? earlyStop = null)
    {
        var request = context.Request;
        string output = request.OutputFolder;
        string extractedDir = Path.Combine(output, ExtractedFolder);
        if (Directory.Exists(extractedDir)) Directory.Delete(extractedDir, true);
        Directory.CreateDirectory(extractedDir);

        int generated = embeddings.Count;
        var names = Enumerable.Range(0, generated).Select(i => ImageFile(i)).ToList();
        if (generated > 0) WriteEmbeddings(Path.Combine(output, EmbeddingsFile), embeddings, names, context.Parameters.Descriptor.Name);

        var timer = Stopwatch.StartNew();
        ClusteringRecord? clustering = null;
        var extracted = new List<ExtractedRecord>();
        MetricsRecord? metrics = null;
        if (generated >= 1)
        {
            var result = CliqueClustering.Run(embeddings, new CliqueClusteringOptions(
                Expected: Math.Min(context.Parameters.Expected, generated), WorkBudget: request.ClusterWorkBudget, Selection: request.Selection));
            clustering = new ClusteringRecord(context.Parameters.Selection, result.Threshold, result.OfficialDirectoryName, result.StartThreshold,
                result.M, result.Rounds, result.BudgetExceededRounds, result.TotalWork,
                result.Clusters.Select(c => new ClusterRecord(c.Size, c.Representative, c.Members)).ToList());
            var selected = result.SelectedClusters;
            var extractedFiles = new List<string>();
            for (int rank = 0; rank < selected.Count; rank++)
            {
                int image = selected[rank].Representative;
                string file = $"{ExtractedFolder}/{rank + 1:D3}_{ImageFileName(image)}";
                File.Copy(Path.Combine(output, ImageFile(image)), Path.Combine(output, file), overwrite: true);
                extractedFiles.Add(file);
            }

            float[][]? references = null;
            List<string>? referenceNames = null;
            if (request.ReferenceFolder is { } referenceFolder && embedReferences is not null)
            {
                var referenceFiles = ImageIO.ListImages(referenceFolder);
                if (referenceFiles.Count > 0)
                {
                    references = embedReferences(referenceFiles);
                    referenceNames = referenceFiles.Select(f => Path.GetFileName(f)).ToList();
                    var selectedEmbeddings = selected.Select(c => embeddings[c.Representative]).ToList();
                    var m = ExtractionMetrics.Compute(references, referenceNames, selectedEmbeddings, extractedFiles);
                    var oracle = ExtractionMetrics.Compute(references, referenceNames, embeddings, names);
                    // Seeds are independent, so the first N images are a fair random sample: the no-clustering baseline.
                    int firstN = Math.Min(context.Parameters.Expected, generated);
                    var unclustered = ExtractionMetrics.Compute(references, referenceNames, embeddings.Take(firstN).ToList(), names.Take(firstN).ToList());
                    metrics = new MetricsRecord(context.Parameters.Descriptor.Name, m.AverageSimilarity, Rates(m),
                        m.Matches.Select(x => new ReferenceMatchRecord(x.ReferenceName, x.MatchName, selected[x.Match].Representative, x.Similarity)).ToList(),
                        oracle.AverageSimilarity, Rates(oracle), firstN, unclustered.AverageSimilarity, Rates(unclustered));
                }
            }
            for (int rank = 0; rank < selected.Count; rank++)
            {
                string? bestName = null;
                double? bestSimilarity = null;
                if (references is not null)
                {
                    var e = embeddings[selected[rank].Representative];
                    int best = 0;
                    double bestSim = double.NegativeInfinity;
                    for (int r = 0; r < references.Length; r++)
                    {
                        double s = ImageDescriptorExtensions.Similarity(e, references[r]);
                        if (s > bestSim) (best, bestSim) = (r, s);
                    }
                    (bestName, bestSimilarity) = (referenceNames![best], bestSim);
                }
                extracted.Add(new ExtractedRecord(rank + 1, selected[rank].Representative, extractedFiles[rank], selected[rank].Size, bestName, bestSimilarity));
            }
        }

        var results = new ExtractionResults
        {
            Tool = ToolInfo(),
            Status = status,
            StartedAt = startedAt,
            FinishedAt = DateTimeOffset.UtcNow,
            Inputs = context.Inputs,
            BaseFamily = context.BaseFamily,
            FineTune = context.FineTune,
            Prompt = context.Prompt,
            Parameters = context.Parameters,
            Generated = new GeneratedRecord(generated, ImagesFolder, unetEvaluations, context.UNetEvaluationsPerImage),
            Clustering = clustering,
            Extracted = extracted,
            Metrics = metrics,
            Timings = new TimingsRecord(context.LoadSeconds, context.PromptSeconds, samplingSeconds, embeddingSeconds, timer.Elapsed.TotalSeconds,
                elapsedSeconds + timer.Elapsed.TotalSeconds, unetEvaluations / Math.Max(samplingSeconds, 1e-9)),
            EarlyStop = earlyStop,
        };
        ResultsJson.Write(Path.Combine(output, ResultsFile), results);
        ReportWriter.Write(Path.Combine(output, ReportFile), results, output, request.ReferenceFolder);
        return results;
    }

    private static Dictionary<string, double> Rates(ExtractionMetricsResult m) =>
        m.SuccessRates.ToDictionary(r => r.Threshold.ToString("0.0#", System.Globalization.CultureInfo.InvariantCulture), r => r.Rate);

    private static void WriteEmbeddings(string path, IReadOnlyList<float[]> embeddings, List<string> names, string descriptor)
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

    public static ToolInfo ToolInfo() => new("finextract", typeof(EvidenceBuilder).Assembly.GetName().Version?.ToString() ?? "0",
        typeof(torch).Assembly.GetName().Version?.ToString() ?? "?", "cpu", "float32", get_num_threads(),
        $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}");
}
