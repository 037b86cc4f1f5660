using FineXtract.Checkpoints;
using FineXtract.Checkpoints.Lora;
using FineXtract.Diffusion.Models;
using FineXtract.Diffusion.Schedulers;
using FineXtract.Diffusion.Tokenization;
using FineXtract.Extraction.Sampling;
using static TorchSharp.torch;

namespace FineXtract.Extraction.Pipeline;

public enum FineTuneKind { Full, Lora }

/// <summary>What the user pointed at: the base model and either a full fine-tune or a LoRA.</summary>
public sealed record ModelSources(string BasePath, string? FineTunedPath, string? LoraPath, double LoraScale = 1.0, string? TokenizerPath = null)
{
    public FineTuneKind Kind => LoraPath is null ? FineTuneKind.Full : FineTuneKind.Lora;

    public void Validate()
    {
        if ((FineTunedPath is null) == (LoraPath is null))
            throw new FineXtractException("give exactly one of --finetuned PATH and --lora FILE");
    }
}

/// <summary>
/// The pretrained and fine-tuned models an extraction contrasts, loaded once: base UNet, VAE, text encoder,
/// tokenizer and scheduler config; the fine-tuned UNet (and text encoder, when the fine-tune has one) from a full
/// checkpoint, or the base's with a LoRA merged into the weights once.
/// </summary>
public sealed class ExtractionModels : IDisposable
{
    public required UNet2DConditionModel PretrainedUnet { get; init; }
    public required UNet2DConditionModel FineTunedUnet { get; init; }
    public required ClipTextModel PretrainedTextEncoder { get; init; }
    public required ClipTextModel FineTunedTextEncoder { get; init; }
    public required AutoencoderKL Vae { get; init; }
    public required ClipTokenizer Tokenizer { get; init; }
    public required SchedulerConfig Scheduler { get; init; }
    public required ModelSources Sources { get; init; }
    public required string BaseFamily { get; init; }
    /// <summary>True when the fine-tune changed the text encoder (a full checkpoint with one, or a LoRA with lora_te_ modules).</summary>
    public required bool FineTunedTextEncoderDiffers { get; init; }
    public int LoraModulesMerged { get; init; }

    /// <summary>The tokenizer shipped with the product (CLIP BPE), for checkpoints that come without one.</summary>
    public static string BundledTokenizerPath => Path.Combine(AppContext.BaseDirectory, "Assets", "clip-tokenizer");

    public static ExtractionModels Load(ModelSources sources) => Load(sources, null);

    /// <summary>
    /// Loads the models of one extraction. With a <paramref name="cache"/>, the pretrained UNet, VAE and text encoder
    /// come from it (loaded once per base, shared, never disposed here); only the fine-tuned side is built per call.
    /// </summary>
    public static ExtractionModels Load(ModelSources sources, BaseModelCache? cache)
    {
        sources.Validate();
        var disposables = new List<IDisposable>();
        try
        {
            UNet2DConditionModel pretrainedUnet;
            AutoencoderKL vae;
            ClipTextModel pretrainedText;
            BaseModelLease? lease = null;
            if (cache is not null)
            {
                lease = Track(cache.Acquire(sources.BasePath));
                (pretrainedUnet, vae, pretrainedText) = (lease.Models.Unet, lease.Models.Vae, lease.Models.TextEncoder);
            }
            else
            {
                pretrainedUnet = Track(ModelLoader.LoadUnet(sources.BasePath));
                vae = Track(ModelLoader.LoadVae(sources.BasePath));
                pretrainedText = Track(ModelLoader.LoadTextEncoder(sources.BasePath, TextEncoderConfig(sources.BasePath)));
            }
            UNet2DConditionModel ftUnet;
            ClipTextModel ftText = pretrainedText;
            int merged = 0;
            if (sources.LoraPath is { } loraPath)
            {
                using var lora = LoraAdapter.Open(loraPath);
                ftUnet = Track(ModelLoader.LoadUnet(sources.BasePath));
                merged += lora.MergeInto(ftUnet, LoraTarget.Unet, sources.LoraScale);
                if (lora.Modules.Any(m => m.Target == LoraTarget.TextEncoder))
                {
                    ftText = Track(ModelLoader.LoadTextEncoder(sources.BasePath, TextEncoderConfig(sources.BasePath)));
                    merged += lora.MergeInto(ftText, LoraTarget.TextEncoder, sources.LoraScale);
                }
            }
            else
            {
                string ft = sources.FineTunedPath!;
                ftUnet = Track(LoadFineTunedUnet(ft, pretrainedUnet));
                if (HasTextEncoder(ft))
                    ftText = Track(ModelLoader.LoadTextEncoder(ft, TextEncoderConfig(ft) ?? TextEncoderConfig(sources.BasePath)));
            }
            ftUnet.eval();
            return new ExtractionModels
            {
                PretrainedUnet = pretrainedUnet,
                FineTunedUnet = ftUnet,
                PretrainedTextEncoder = pretrainedText,
                FineTunedTextEncoder = ftText,
                Vae = vae,
                Tokenizer = LoadTokenizer(sources),
                Scheduler = LoadScheduler(sources.BasePath),
                Sources = sources,
                BaseFamily = pretrainedUnet.Config.UseLinearProjection ? "sd2" : "sd1",
                FineTunedTextEncoderDiffers = !ReferenceEquals(ftText, pretrainedText),
                LoraModulesMerged = merged,
                BaseLease = lease,
            };
        }
        catch
        {
            foreach (var d in disposables) d.Dispose();
            throw;
        }

        T Track<T>(T d) where T : IDisposable
        {
            disposables.Add(d);
            return d;
        }
    }

    /// <summary>Set when the pretrained components are borrowed from a <see cref="BaseModelCache"/>.</summary>
    private BaseModelLease? BaseLease { get; init; }

    /// <summary>A full fine-tune: a diffusers folder, a <c>checkpoint-N/</c> folder with <c>unet/</c>, a <c>unet/</c> folder, or a single file.</summary>
    private static UNet2DConditionModel LoadFineTunedUnet(string path, UNet2DConditionModel pretrained)
    {
        UNet2DConditionModel ft;
        try
        {
            ft = ModelLoader.LoadUnet(path);
        }
        catch (FineXtractException e) when (File.Exists(path) && e.Message.Contains("needs its config.json"))
        {
            // A diffusers-layout UNet weights file without a config: it must have the base's structure.
            ft = new UNet2DConditionModel(pretrained.Config);
            using var file = SafeTensorsFile.Open(path);
            StateDictLoader.Load(ft, file, KeyMapping.Identity(), "fine-tuned UNet");
        }
        if (!SameStructure(ft.Config, pretrained.Config))
        {
            ft.Dispose();
            throw new FineXtractException(
                $"{path}: the fine-tuned UNet does not have the base model's structure (cross-attention {ft.Config.CrossAttentionDim} vs " +
                $"{pretrained.Config.CrossAttentionDim}, widths {string.Join("/", ft.Config.BlockOutChannels)} vs " +
                $"{string.Join("/", pretrained.Config.BlockOutChannels)}): it was fine-tuned from a different base");
        }
        return ft;
    }

    private static bool SameStructure(UNet2DConditionConfig a, UNet2DConditionConfig b) =>
        a.BlockOutChannels.SequenceEqual(b.BlockOutChannels) && a.CrossAttentionDim == b.CrossAttentionDim
        && a.LayersPerBlock == b.LayersPerBlock && a.UseLinearProjection == b.UseLinearProjection
        && a.DownBlockTypes.SequenceEqual(b.DownBlockTypes) && a.InChannels == b.InChannels;

    private static bool HasTextEncoder(string path)
    {
        if (Directory.Exists(path)) return Directory.Exists(Path.Combine(path, "text_encoder"));
        using var file = SafeTensorsFile.Open(path);
        return file.Tensors.Keys.Any(k => k.StartsWith("cond_stage_model.") || k.StartsWith("text_model."));
    }

    /// <summary>The text encoder's config.json when the checkpoint has one (diffusers folders do; single files do not).</summary>
    internal static string? TextEncoderConfig(string path)
    {
        var candidate = Path.Combine(path, "text_encoder", "config.json");
        return Directory.Exists(path) && File.Exists(candidate) ? candidate : null;
    }

    private static ClipTokenizer LoadTokenizer(ModelSources s)
    {
        if (s.TokenizerPath is not null) return ClipTokenizer.FromDirectory(s.TokenizerPath);
        var own = Path.Combine(s.BasePath, "tokenizer");
        return ClipTokenizer.FromDirectory(Directory.Exists(own) ? own : BundledTokenizerPath);
    }

    private static SchedulerConfig LoadScheduler(string basePath)
    {
        var path = Path.Combine(basePath, "scheduler", "scheduler_config.json");
        return Directory.Exists(basePath) && File.Exists(path) ? SchedulerConfig.Load(path) : SchedulerConfig.StableDiffusion1;
    }

    /// <summary>
    /// Text states for the prompt and the empty prompt, each repeated <paramref name="batch"/> times. The tensors belong
    /// to no dispose scope: the caller keeps them across batches and disposes them.
    /// </summary>
    public PromptEmbeddings EncodePrompts(string caption, int batch)
    {
        using var scope = NewDisposeScope();
        using var _ = inference_mode();
        var ids = Tokenizer.EncodeBatch([string.Empty, caption]);
        Tensor Encode(ClipTextModel te)
        {
            using var o = te.Forward(ids);
            return o.LastHiddenState.clone();
        }
        var pre = Encode(PretrainedTextEncoder);
        var ft = FineTunedTextEncoderDiffers ? Encode(FineTunedTextEncoder) : pre;
        Tensor Rows(Tensor t, int row) => t[row].unsqueeze(0).expand(batch, -1, -1).contiguous();
        var result = new PromptEmbeddings(Rows(pre, 0), Rows(pre, 1), Rows(ft, 0), Rows(ft, 1));
        foreach (var t in new[] { result.PretrainedEmpty, result.PretrainedCaption, result.FineTunedEmpty, result.FineTunedCaption }.Distinct())
            t.DetachFromDisposeScope();
        return result;
    }

    public void Dispose()
    {
        FineTunedUnet.Dispose();
        if (FineTunedTextEncoderDiffers) FineTunedTextEncoder.Dispose();
        if (BaseLease is not null)
        {
            BaseLease.Dispose();
            return;
        }
        PretrainedUnet.Dispose();
        PretrainedTextEncoder.Dispose();
        Vae.Dispose();
    }
}
