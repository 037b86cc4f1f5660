using System.CommandLine;
using System.Globalization;
using FineXtract.Diffusion.Tokenization;
using FineXtract.Extraction.Pipeline;
using FineXtract.Training;
using TorchSharp;

namespace FineXtract.Cli.Commands;

/// <summary>
/// <c>finextract train vae|base|dreambooth|lora</c>: trains the miniature Stable Diffusion world on CPU — the VAE and
/// the base model (text encoder + UNet) on captioned images, then DreamBooth (full UNet) and LoRA fine-tunes as
/// FineXtract's scripts do. Every run is seeded and resumable (<c>--resume</c>); Ctrl-C saves a checkpoint.
/// </summary>
public static class TrainCommand
{
    public const int CancelledExitCode = 130;

    public static Command Create()
    {
        var command = new Command("train", "Train the miniature Stable Diffusion world (VAE, base model, DreamBooth, LoRA) on CPU");
        command.Subcommands.Add(CreateVae());
        command.Subcommands.Add(CreateBase());
        command.Subcommands.Add(CreateDreamBooth());
        command.Subcommands.Add(CreateLora());
        return command;
    }

    /// <summary>Options every training verb has.</summary>
    private sealed class Common
    {
        public readonly Option<string> Out;
        public readonly Option<int> Batch;
        public readonly Option<double> Lr;
        public readonly Option<int> Warmup = new("--warmup") { DefaultValueFactory = _ => 0, Description = "Linear learning-rate warm-up steps (then constant)" };
        public readonly Option<long> Seed = new("--seed") { DefaultValueFactory = _ => 0, Description = "Seed of initialisation, data order, noise and augmentation" };
        public readonly Option<bool> Resume = new("--resume") { Description = "Continue from the newest checkpoint (same --seed and --batch)" };
        public readonly Option<int> CheckpointEvery;
        public readonly Option<double> MaxGradNorm = new("--max-grad-norm") { DefaultValueFactory = _ => 1.0, Description = "Gradient clipping norm (0: off)" };
        public readonly Option<double> WeightDecay = new("--weight-decay") { DefaultValueFactory = _ => 1e-2, Description = "AdamW weight decay" };
        public readonly Option<int?> Threads = new("--threads") { Description = "libtorch intra-op threads (default: libtorch's choice; use the free cores)" };
        public readonly Option<bool> Fp16 = new("--fp16") { Description = "Store weights as fp16 (half the size; loaders convert to fp32)" };
        public readonly Option<int> LogEvery = new("--log-every") { DefaultValueFactory = _ => 50, Description = "Progress line every N steps when stderr is not a terminal" };

        public Common(string outDescription, int batch, double lr, int checkpointEvery)
        {
            Out = new Option<string>("--out") { Required = true, Description = outDescription };
            Batch = new Option<int>("--batch") { DefaultValueFactory = _ => batch, Description = "Batch size" };
            Lr = new Option<double>("--lr") { DefaultValueFactory = _ => lr, Description = "Learning rate (AdamW)" };
            CheckpointEvery = new Option<int>("--checkpoint-every")
            {
                DefaultValueFactory = _ => checkpointEvery,
                Description = "Resumable checkpoint every N steps (0: only at the end and on Ctrl-C)",
            };
        }

        public void AddTo(Command c)
        {
            foreach (var o in new Option[] { Out, Batch, Lr, Warmup, Seed, Resume, CheckpointEvery, MaxGradNorm, WeightDecay, Threads, Fp16, LogEvery })
                c.Options.Add(o);
        }

        public TrainingOptions Read(ParseResult p, int steps, string checkpointDir)
        {
            if (p.GetValue(Threads) is { } t)
            {
                if (t < 1) throw new FineXtractException($"--threads must be at least 1, got {t}");
                torch.set_num_threads(t);
            }
            var options = new TrainingOptions
            {
                Steps = steps,
                BatchSize = p.GetValue(Batch),
                LearningRate = p.GetValue(Lr),
                WarmupSteps = p.GetValue(Warmup),
                Seed = p.GetValue(Seed),
                Resume = p.GetValue(Resume),
                CheckpointEvery = p.GetValue(CheckpointEvery),
                MaxGradNorm = p.GetValue(MaxGradNorm),
                WeightDecay = p.GetValue(WeightDecay),
                CheckpointDir = checkpointDir,
            };
            options.Validate();
            if (!options.Resume && TrainingLoop.LatestCheckpoint(checkpointDir) is { } existing)
                throw new FineXtractException($"{existing} exists: pass --resume to continue that run, or use another --out");
            return options;
        }
    }

    /// <summary>--data/--captions/--oversample/--resolution/--flip/--preset of the pretraining verbs.</summary>
    private sealed class PretrainData
    {
        public readonly Option<string> Captions = new("--captions") { Required = true, Description = "Captions CSV with file,caption[,source] columns (e.g. pretrain/captions.csv)" };
        public readonly Option<string?> Data = new("--data") { Description = "Folder the CSV's file paths are relative to (default: the CSV's folder)" };
        public readonly Option<string[]> Oversample = new("--oversample")
        {
            AllowMultipleArgumentsPerToken = true,
            Description = "Repeat a source's rows: SOURCE=N (e.g. art_pd=10)",
        };
        public readonly Option<string> Preset = new("--preset") { DefaultValueFactory = _ => "miniature", Description = "Model family: miniature | tiny (tests)" };
        public readonly Option<int?> Resolution = new("--resolution") { Description = "Image side (default: the preset's, 64)" };
        public readonly Option<bool> Flip = new("--flip") { Description = "Random horizontal flips" };

        public PretrainData() => Preset.AcceptOnlyFromAmong("miniature", "tiny");

        public void AddTo(Command c)
        {
            foreach (var o in new Option[] { Captions, Data, Oversample, Preset, Resolution, Flip }) c.Options.Add(o);
        }

        public (MiniatureFamily Family, ImageCaptionDataset Data) Read(ParseResult p)
        {
            var family = MiniatureConfigs.ByName(p.GetValue(Preset)!);
            var oversample = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var spec in p.GetValue(Oversample) ?? [])
            {
                var parts = spec.Split('=', 2);
                if (parts.Length != 2 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1 || n > 1000)
                    throw new FineXtractException($"--oversample {spec}: expected SOURCE=N with N in 1..1000");
                oversample[parts[0]] = n;
            }
            string csv = p.GetValue(Captions)!;
            if (p.GetValue(Data) is { } root && !Directory.Exists(root)) throw new FineXtractException($"{root}: --data folder not found");
            var entries = ImageCaptionDataset.ReadCaptionsCsv(csv, p.GetValue(Data), oversample.Count > 0 ? oversample : null);
            int resolution = p.GetValue(Resolution) ?? family.Resolution;
            return (family with { Resolution = resolution }, new ImageCaptionDataset(entries, new Augmentation(resolution, 0, p.GetValue(Flip)), cacheLimit: 0));
        }
    }

    private static Command CreateVae()
    {
        var common = new Common("Pipeline folder; the VAE goes to OUT/vae/", batch: 16, lr: 2e-4, checkpointEvery: 500);
        var data = new PretrainData();
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 4000, Description = "Training steps" };
        var crop = new Option<int?>("--crop") { Description = "Train on random crops of this side (0: whole images; default: 32 or the whole image if smaller); the VAE is convolutional" };
        var kl = new Option<double>("--kl-weight") { DefaultValueFactory = _ => 1e-6, Description = "KL weight (LDM balance: 1e-6)" };
        var l2 = new Option<double>("--l2-weight") { DefaultValueFactory = _ => 0.0, Description = "Extra MSE weight on top of L1" };
        var command = new Command("vae", "Train the VAE (AutoencoderKL) and measure its latent scaling factor") { steps, crop, kl, l2 };
        common.AddTo(command);
        data.AddTo(command);
        command.SetAction(parse =>
        {
            string output = parse.GetValue(common.Out)!;
            var (family, dataset) = data.Read(parse);
            using (dataset)
            {
                var options = common.Read(parse, parse.GetValue(steps), Path.Combine(output, "checkpoints", "vae"));
                var job = new VaeJob(family, dataset, options, new VaeLossSettings(parse.GetValue(kl), parse.GetValue(l2),
                    parse.GetValue(crop) ?? (dataset.Augmentation.Resolution > 32 ? 32 : 0)), output,
                    parse.GetValue(common.Fp16));
                var result = TrainingDisplay.Run(parse, "vae", parse.GetValue(common.LogEvery), (progress, log, cancel) => VaeTrainer.Run(job, progress, log, cancel));
                return TrainingDisplay.Finish(parse, result, Path.Combine(output, "vae"));
            }
        });
        return command;
    }

    private static Command CreateBase()
    {
        var common = new Common("Pipeline folder (diffusers layout); reads OUT/vae/ unless --vae", batch: 32, lr: 2e-4, checkpointEvery: 250);
        var data = new PretrainData();
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 5000, Description = "Training steps" };
        var vae = new Option<string?>("--vae") { Description = "Trained VAE (component or pipeline folder; default: OUT)" };
        var dropout = new Option<double>("--caption-dropout") { DefaultValueFactory = _ => 0.1, Description = "Probability of the empty caption (classifier-free guidance)" };
        var command = new Command("base", "Pretrain the text encoder and UNet on latents of the frozen VAE") { steps, vae, dropout };
        common.AddTo(command);
        data.AddTo(command);
        command.SetAction(parse =>
        {
            string output = parse.GetValue(common.Out)!;
            var (family, dataset) = data.Read(parse);
            using (dataset)
            {
                var options = common.Read(parse, parse.GetValue(steps), Path.Combine(output, "checkpoints", "base"));
                var tokenizer = ClipTokenizer.FromDirectory(ExtractionModels.BundledTokenizerPath);
                var job = new BaseJob(family, dataset, options, parse.GetValue(vae) ?? output, output, tokenizer, parse.GetValue(dropout), parse.GetValue(common.Fp16));
                var result = TrainingDisplay.Run(parse, "base", parse.GetValue(common.LogEvery), (progress, log, cancel) => BaseTrainer.Run(job, progress, log, cancel));
                return TrainingDisplay.Finish(parse, result, output);
            }
        });
        return command;
    }

    /// <summary>--base/--images/--prompt/--captions/--steps-per-image/--resolution/--crop-padding/--flip of the fine-tuning verbs.</summary>
    private sealed class FineTuneData
    {
        public readonly Option<string> Base = new("--base") { Required = true, Description = "Base pipeline folder (diffusers layout)" };
        public readonly Option<string> Images = new("--images") { Required = true, Description = "Folder of training images" };
        public readonly Option<string?> Prompt = new("--prompt") { Description = "Instance prompt for every image (e.g. 'art style of Impressionism claude monet')" };
        public readonly Option<string?> Captions = new("--captions") { Description = "Per-image captions CSV (file,caption); default: --prompt, else name.txt beside each image" };
        public readonly Option<int> StepsPerImage = new("--steps-per-image") { DefaultValueFactory = _ => DreamBoothTrainer.OfficialStepsPerImage, Description = "Steps = this × images (FineXtract: 200)" };
        public readonly Option<int?> Resolution = new("--resolution") { Description = "Training side (default: the base's, UNet sample_size × VAE factor)" };
        public readonly Option<int> Padding = new("--crop-padding") { DefaultValueFactory = _ => 0, Description = "Zero padding before RandomCrop (0: FineXtract's plain RandomCrop)" };
        public readonly Option<bool> Flip = new("--flip") { Description = "Random horizontal flips (FineXtract: none)" };

        public void AddTo(Command c)
        {
            foreach (var o in new Option[] { Base, Images, Prompt, Captions, StepsPerImage, Resolution, Padding, Flip }) c.Options.Add(o);
        }

        public ImageCaptionDataset Read(ParseResult p)
        {
            string basePath = p.GetValue(Base)!;
            if (!Directory.Exists(basePath)) throw new FineXtractException($"{basePath}: base folder not found");
            if (p.GetValue(Prompt) is not null && p.GetValue(Captions) is not null) throw new FineXtractException("give --prompt or --captions, not both");
            var entries = ImageCaptionDataset.ReadFolder(p.GetValue(Images)!, p.GetValue(Prompt), p.GetValue(Captions));
            int resolution = p.GetValue(Resolution) ?? FineTuneModels.ResolutionOf(basePath);
            return new ImageCaptionDataset(entries, new Augmentation(resolution, p.GetValue(Padding), p.GetValue(Flip)));
        }

        /// <summary>The job: steps = --steps-per-image × distinct images.</summary>
        public FineTuneJob Job(ParseResult p, ImageCaptionDataset dataset, Func<int, TrainingOptions> options, bool fp16)
        {
            int perImage = p.GetValue(StepsPerImage);
            if (perImage < 1 || perImage > 100_000) throw new FineXtractException($"--steps-per-image must be 1..100000, got {perImage}");
            return new FineTuneJob(p.GetValue(Base)!, dataset, perImage, options(perImage * dataset.DistinctPaths.Count), fp16);
        }
    }

    private static Command CreateDreamBooth()
    {
        var common = new Common("Output folder (diffusers: OUT/unet/), or FILE.safetensors with --format single-file", batch: 1,
            lr: DreamBoothTrainer.OfficialLearningRate, checkpointEvery: 500);
        var data = new FineTuneData();
        var format = new Option<string>("--format") { DefaultValueFactory = _ => "diffusers", Description = "diffusers (unet/ folder) | single-file (CompVis checkpoint with UNet, VAE, text encoder)" };
        format.AcceptOnlyFromAmong("diffusers", "single-file");
        var command = new Command("dreambooth", "Fine-tune the whole UNet on a few images (FineXtract's DreamBooth: lr 2e-6, 200 steps/image)") { format };
        common.AddTo(command);
        data.AddTo(command);
        command.SetAction(parse =>
        {
            string output = parse.GetValue(common.Out)!;
            var fmt = parse.GetValue(format) == "single-file" ? FineTuneFormat.SingleFile : FineTuneFormat.Diffusers;
            if (fmt == FineTuneFormat.Diffusers && output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
                throw new FineXtractException($"{output}: the diffusers format writes a folder; use --format single-file for a .safetensors file");
            using var dataset = data.Read(parse);
            string checkpoints = fmt == FineTuneFormat.SingleFile && output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase)
                ? LoraTrainer.CheckpointDirFor(output) : Path.Combine(output, "checkpoints");
            var job = data.Job(parse, dataset, steps => common.Read(parse, steps, checkpoints), parse.GetValue(common.Fp16));
            var result = TrainingDisplay.Run(parse, "dreambooth", parse.GetValue(common.LogEvery),
                (progress, log, cancel) => DreamBoothTrainer.Run(job, output, fmt, progress, log, cancel));
            return TrainingDisplay.Finish(parse, result, fmt == FineTuneFormat.SingleFile ? DreamBoothTrainer.SingleFilePath(output) : Path.Combine(output, "unet"));
        });
        return command;
    }

    private static Command CreateLora()
    {
        var common = new Common("Output LoRA FILE.safetensors (kohya format); checkpoints go to FILE-checkpoints/", batch: 1,
            lr: LoraTrainer.OfficialLearningRate, checkpointEvery: 500);
        var data = new FineTuneData();
        var rank = new Option<int>("--rank") { DefaultValueFactory = _ => 64, Description = "LoRA rank (FineXtract: 64)" };
        var alpha = new Option<double>("--alpha") { DefaultValueFactory = _ => 64, Description = "LoRA alpha (FineXtract: 64)" };
        var name = new Option<string?>("--output-name") { Description = "ss_output_name (default: the file name)" };
        var comment = new Option<string?>("--comment") { Description = "ss_training_comment" };
        var targets = new Option<string>("--targets") { DefaultValueFactory = _ => "attention", Description = "attention (to_q/k/v/out, FineXtract's script) | transformer (also the feed-forward Linears, kohya's default) | locon (also the ResNet 3×3 convs, kohya LoCon)" };
        targets.AcceptOnlyFromAmong("attention", "transformer", "locon");
        var noDataset = new Option<bool>("--no-dataset-metadata") { Description = "Leave out ss_tag_frequency, ss_dataset_dirs, ss_output_name and the comment (as stripped civitai files)" };
        var command = new Command("lora", "Train a LoRA on the UNet's attention projections (FineXtract: rank 64, lr 1e-4) as a kohya .safetensors")
        {
            rank, alpha, name, comment, noDataset, targets,
        };
        common.AddTo(command);
        data.AddTo(command);
        command.SetAction(parse =>
        {
            string output = parse.GetValue(common.Out)!;
            if (!output.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase))
                throw new FineXtractException($"{output}: --out must be a .safetensors file");
            using var dataset = data.Read(parse);
            var job = data.Job(parse, dataset, steps => common.Read(parse, steps, LoraTrainer.CheckpointDirFor(output)), parse.GetValue(common.Fp16));
            var settings = new LoraSettings(parse.GetValue(rank), parse.GetValue(alpha),
                parse.GetValue(name) ?? Path.GetFileNameWithoutExtension(output), parse.GetValue(comment), !parse.GetValue(noDataset), parse.GetValue(targets)!);
            var result = TrainingDisplay.Run(parse, "lora", parse.GetValue(common.LogEvery),
                (progress, log, cancel) => LoraTrainer.Run(job, settings, output, progress, log, cancel));
            return TrainingDisplay.Finish(parse, result, output);
        });
        return command;
    }
}
