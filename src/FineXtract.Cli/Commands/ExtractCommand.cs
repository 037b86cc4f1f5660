using System.CommandLine;
using FineXtract.Extraction.Clustering;
using FineXtract.Extraction.Evidence;
using FineXtract.Extraction.Pipeline;
using FineXtract.Extraction.Sampling;
using FineXtract.Silo;

namespace FineXtract.Cli.Commands;

/// <summary>
/// <c>finextract extract</c>: the whole single-machine audit of one checkpoint (through an embedded silo's grains),
/// with a progress bar; Ctrl-C stops cleanly and leaves a valid partial result.
/// </summary>
public static class ExtractCommand
{
    public const int CancelledExitCode = 130;

    public static Command Create()
    {
        var models = new ModelOptions();
        var descriptor = new DescriptorOptions();
        var prompt = new Option<string>("--prompt") { Required = true, Description = "The training caption, or 'auto' to recover it blindly" };
        var method = new Option<string>("--method") { DefaultValueFactory = _ => "finextract", Description = "finextract | cfg | direct" };
        method.AcceptOnlyFromAmong("finextract", "cfg", "direct");
        var variant = new Option<string>("--variant") { DefaultValueFactory = _ => "conditional", Description = "FineXtract form: conditional | same-caption | caption-free" };
        variant.AcceptOnlyFromAmong("conditional", "same-caption", "caption-free");
        var guidance = new Option<double?>("--guidance") { Description = "Guidance scale w (default: 3 for a full fine-tune, 5 for a LoRA; CFG 3)" };
        var fixTerm = new Option<double?>("--fix-term") { Description = "FineXtract's k (default: −0.02 full fine-tune, 0 LoRA)" };
        var images = new Option<int>("--images") { DefaultValueFactory = _ => ExtractionDefaults.Images, Description = "Images to generate" };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => ExtractionDefaults.Batch, Description = "Images per batch" };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => ExtractionDefaults.Steps, Description = "Denoising steps" };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => ExtractionDefaults.Seed, Description = "Run seed (image i depends only on seed and i)" };
        var sampler = new Option<string>("--sampler") { DefaultValueFactory = _ => "faithful", Description = "faithful (the official loop) | ddim (clean DDIM)" };
        sampler.AcceptOnlyFromAmong("faithful", "ddim");
        var select = new Option<string>("--select") { DefaultValueFactory = _ => "faithful", Description = "faithful (all M ≥ N representatives) | exact-n (the N largest clusters)" };
        select.AcceptOnlyFromAmong("faithful", "exact-n");
        var expect = new Option<int?>("--expect") { Description = "N, the number of training images (default: kohya metadata, else the reference folder's size, else 10)" };
        var latentSize = new Option<int?>("--latent-size") { Description = "Latent side (default: the UNet's sample_size; image side = latent × VAE factor)" };
        var reference = new Option<string?>("--reference") { Description = "Folder of the true training images: adds AS / A-ESR" };
        var output = new Option<string>("--out") { Required = true, Description = "Evidence folder to write" };
        var command = new Command("extract", "Extract the training images of a fine-tuned model (FineXtract)")
        {
            prompt, method, variant, guidance, fixTerm, images, batch, steps, seed, sampler, select, expect, latentSize, reference, output,
        };
        models.AddTo(command);
        descriptor.AddTo(command);
        command.SetAction(async (parse, cancel) =>
        {
            var request = new ExtractionRequest
            {
                Models = models.Read(parse),
                Prompt = parse.GetValue(prompt)!,
                Method = SamplingNames.Method(parse.GetValue(method)!),
                Variant = SamplingNames.Variant(parse.GetValue(variant)!),
                GuidanceScale = parse.GetValue(guidance),
                FixTerm = parse.GetValue(fixTerm),
                Images = parse.GetValue(images),
                Batch = parse.GetValue(batch),
                Steps = parse.GetValue(steps),
                Seed = parse.GetValue(seed),
                Sampler = SamplingNames.Sampler(parse.GetValue(sampler)!),
                Selection = parse.GetValue(select) == "exact-n" ? SelectionMode.ExactN : SelectionMode.Faithful,
                Expected = parse.GetValue(expect),
                LatentSize = parse.GetValue(latentSize),
                Descriptor = parse.GetValue(descriptor.Descriptor)!,
                Preprocessing = parse.GetValue(descriptor.Preprocess)!,
                ReferenceFolder = parse.GetValue(reference),
                OutputFolder = parse.GetValue(output)!,
            };
            request.Validate();
            // One checkpoint through the grains of an embedded single-process silo: the cluster's path, on this machine.
            var results = await ProgressDisplay.RunAsync(parse, "Extracting", (progress, token) => EmbeddedSilo.RunAsync(request, progress, token), cancel);
            Summary.Print(parse.InvocationConfiguration.Output, results, request.OutputFolder);
            return results.Status == "completed" ? 0 : CancelledExitCode;
        });
        return command;
    }
}
