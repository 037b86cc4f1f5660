using System.Diagnostics;
using FineXtract.Checkpoints.Lora;
using FineXtract.Extraction.Descriptors;
using FineXtract.Extraction.Evidence;
using FineXtract.Extraction.Imaging;
using FineXtract.Extraction.Prompts;
using FineXtract.Extraction.Sampling;
using static TorchSharp.torch;

namespace FineXtract.Extraction.Pipeline;

/// <summary>
/// Everything about a run that the evidence needs and that is known before sampling: the request, the input hashes,
/// what was loaded, the prompt, the resolved parameters. Plain data, so a cluster can pass it between machines.
/// </summary>
public sealed record ExtractionContext(
    ExtractionRequest Request, IReadOnlyList<InputRecord> Inputs, string BaseFamily, FineTuneRecord FineTune, PromptRecord Prompt,
    ParametersRecord Parameters, int UNetEvaluationsPerImage, double LoadSeconds, double PromptSeconds);

/// <summary>Images <see cref="Indices"/> saved as PNG under the run folder, with their descriptor embeddings.</summary>
public sealed record GeneratedImages(IReadOnlyList<long> Indices, IReadOnlyList<string> Files, IReadOnlyList<float[]> Embeddings, long UNetEvaluations,
    double SamplingSeconds, double EmbeddingSeconds);

/// <summary>
/// One checkpoint audit, prepared: inputs hashed, models loaded (a LoRA merged once), prompt given or recovered,
/// sampler and descriptor ready. <see cref="GenerateBatch"/> is the unit of work: it renders, saves and embeds one
/// seed batch. The single-machine runner and the cluster's sampler both drive it.
/// </summary>
public sealed class ExtractionSession : IDisposable
{
    private readonly SeedBatchSampler _sampler;

    public ExtractionContext Context { get; }
    public ExtractionModels Models { get; }
    public IImageDescriptor Descriptor { get; }
    public IReadOnlyDictionary<string, string>? Metadata { get; }

    private ExtractionSession(ExtractionContext context, ExtractionModels models, IImageDescriptor descriptor, SeedBatchSampler sampler,
        IReadOnlyDictionary<string, string>? metadata)
    {
        Context = context;
        Models = models;
        Descriptor = descriptor;
        _sampler = sampler;
        Metadata = metadata;
    }

    public static ExtractionSession Open(ExtractionRequest request, IProgress<ExtractionProgress>? progress = null) => Open(request, progress, null);

    /// <param name="baseModels">Shares the pretrained components across sessions (a sampler serving many checkpoints of one base).</param>
    public static ExtractionSession Open(ExtractionRequest request, IProgress<ExtractionProgress>? progress, BaseModelCache? baseModels)
    {
        request.Validate();
        progress?.Report(new ExtractionProgress("hashing inputs", 0, request.Images, 0, null));
        var inputs = InputHashing.Describe(request);

        progress?.Report(new ExtractionProgress("loading models", 0, request.Images, 0, null));
        var timer = Stopwatch.StartNew();
        var models = ExtractionModels.Load(request.Models, baseModels);
        try
        {
            var metadata = FineTuneMetadata.Read(request.Models);
            string? loraFormat = null;
            if (request.Models.LoraPath is { } lp)
            {
                using var lora = LoraAdapter.Open(lp);
                loraFormat = lora.Format;
            }
            double loadSeconds = timer.Elapsed.TotalSeconds;

            timer.Restart();
            var prompt = ResolvePrompt(request, models, metadata, progress);
            double promptSeconds = timer.Elapsed.TotalSeconds;

            var descriptor = DescriptorFactory.Create(request.Descriptor, DescriptorPreprocessing.Parse(request.Preprocessing));
            var guidance = request.Guidance();
            int latentSize = request.LatentSize ?? models.PretrainedUnet.Config.SampleSize;
            var settings = new SamplingSettings(prompt.Text, guidance, request.Sampler, request.Steps, request.Seed, latentSize);
            settings.Validate();
            var sampler = new SeedBatchSampler(models, settings);
            int expected = request.Expected ?? FineTuneMetadata.NumTrainImages(metadata)
                ?? (request.ReferenceFolder is null ? (int?)null : ImageIO.ListImages(request.ReferenceFolder).Count) ?? ExtractionDefaults.Expected;

            var parameters = new ParametersRecord(
                SamplingNames.Of(guidance.Method), SamplingNames.Of(guidance.Variant), guidance.Scale, guidance.FixTerm, SamplingNames.Of(request.Sampler),
                models.Scheduler.ClassName ?? "PNDMScheduler", request.Steps, request.Images, request.Batch, request.Seed, latentSize,
                latentSize * models.Vae.Config.DownFactor, request.Selection == Clustering.SelectionMode.ExactN ? "exact-n" : "faithful", expected,
                request.ClusterWorkBudget,
                new DescriptorRecord(descriptor.Name, descriptor.IsSscd, descriptor.Dimension, request.Preprocessing,
                    descriptor.IsSscd ? null : "builtin descriptor, NOT SSCD: similarities are not comparable to the paper's SSCD scores"),
                "image i starts from torch.randn([C,h,w]) on a CPU generator seeded with SplitMix64(seed·2^32 + i) & 0xFFFFFFFF; batches are consecutive index ranges of size 'batch'");
            var fineTune = new FineTuneRecord(request.Models.Kind == FineTuneKind.Lora ? "lora" : "full",
                request.Models.Kind == FineTuneKind.Lora ? request.Models.LoraScale : null, loraFormat, models.LoraModulesMerged,
                models.FineTunedTextEncoderDiffers);
            var context = new ExtractionContext(request, inputs, models.BaseFamily, fineTune, prompt, parameters, sampler.UNetEvaluationsPerImage,
                loadSeconds, promptSeconds);
            return new ExtractionSession(context, models, descriptor, sampler, metadata);
        }
        catch
        {
            models.Dispose();
            throw;
        }
    }

    /// <summary>Renders images <paramref name="indices"/>, saves them under <c>images/</c> of <paramref name="runFolder"/> and embeds them.</summary>
    public GeneratedImages GenerateBatch(IReadOnlyList<long> indices, string runFolder, CancellationToken cancel = default)
    {
        var timer = Stopwatch.StartNew();
        Directory.CreateDirectory(Path.Combine(runFolder, EvidenceBuilder.ImagesFolder));
        using var batch = _sampler.Generate(indices, cancel: cancel);
        var files = new List<string>();
        var images = new List<Tensor>();
        try
        {
            for (int i = 0; i < indices.Count; i++)
            {
                var image = batch.Images[i];
                images.Add(image);
                string file = EvidenceBuilder.ImageFile(indices[i]);
                ImageIO.SavePng(image, Path.Combine(runFolder, file));
                files.Add(file);
            }
            double sampling = timer.Elapsed.TotalSeconds;
            timer.Restart();
            var embeddings = Descriptor.Embed(images);
            return new GeneratedImages(indices.ToArray(), files, embeddings, (long)indices.Count * _sampler.UNetEvaluationsPerImage, sampling, timer.Elapsed.TotalSeconds);
        }
        finally
        {
            foreach (var image in images) image.Dispose();
        }
    }

    /// <summary>Embeds the reference (true training) images for the metrics.</summary>
    public float[][] EmbedFiles(IReadOnlyList<string> files) => Descriptor.EmbedFiles(files);

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

    public void Dispose()
    {
        _sampler.Dispose();
        Descriptor.Dispose();
        Models.Dispose();
    }
}
