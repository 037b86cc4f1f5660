using FineXtract.Diffusion.Models;
using TorchSharp;

namespace FineXtract.Checkpoints;

public enum ModelComponent { Unet, Vae, TextEncoder }

/// <summary>
/// Builds a model component from a path a user gives: a diffusers pipeline folder (<c>model_index.json</c>),
/// a component folder (<c>config.json</c> + weights), a single diffusers-layout weights file, or a CompVis/LDM
/// single-file checkpoint as civitai ships it (including EMA-only and fp16 files). The config comes from
/// <c>--config</c>, else the component's config.json, else is inferred from tensor shapes.
/// </summary>
public static class ModelLoader
{
    private static readonly Dictionary<ModelComponent, (string Folder, string[] WeightFiles)> Layout = new()
    {
        [ModelComponent.Unet] = ("unet", ["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"]),
        [ModelComponent.Vae] = ("vae", ["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.fp16.safetensors"]),
        [ModelComponent.TextEncoder] = ("text_encoder", ["model.safetensors", "model.fp16.safetensors"]),
    };

    public static UNet2DConditionModel LoadUnet(string path, string? configPath = null, bool preferEma = false) =>
        (UNet2DConditionModel)Load(ModelComponent.Unet, path, configPath, preferEma);

    public static AutoencoderKL LoadVae(string path, string? configPath = null) =>
        (AutoencoderKL)Load(ModelComponent.Vae, path, configPath, false);

    public static ClipTextModel LoadTextEncoder(string path, string? configPath = null) =>
        (ClipTextModel)Load(ModelComponent.TextEncoder, path, configPath, false);

    public static torch.nn.Module Load(ModelComponent component, string path, string? configPath, bool preferEma)
    {
        var (weights, config) = Resolve(component, path, configPath);
        using var file = SafeTensorsFile.Open(weights);
        var layout = DetectLayout(file, component);
        torch.nn.Module model = component switch
        {
            ModelComponent.Unet => BuildUnet(file, layout, config, preferEma),
            ModelComponent.Vae => BuildVae(file, layout, config),
            _ => BuildTextEncoder(file, layout, config),
        };
        model.eval();
        return model;
    }

    /// <summary>Finds the weights file and the config.json (if any) for one component.</summary>
    public static (string Weights, string? Config) Resolve(ModelComponent component, string path, string? configPath)
    {
        var (folder, names) = Layout[component];
        if (configPath is not null && !File.Exists(configPath))
            throw new FineXtractException($"{configPath}: config file not found");
        if (File.Exists(path))
            return (path, configPath ?? SiblingConfig(path));
        if (!Directory.Exists(path))
            throw new FineXtractException($"{path}: no such file or directory");

        string dir = path;
        if (File.Exists(Path.Combine(path, "model_index.json")) || Directory.Exists(Path.Combine(path, folder)) && !File.Exists(Path.Combine(path, "config.json")))
            dir = Path.Combine(path, folder);
        if (!Directory.Exists(dir))
            throw new FineXtractException($"{path}: diffusers folder has no '{folder}/' component");
        foreach (var name in names)
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
                return (candidate, configPath ?? (File.Exists(Path.Combine(dir, "config.json")) ? Path.Combine(dir, "config.json") : null));
        }
        var pickles = Directory.EnumerateFiles(dir).Where(PickleGuard.LooksLikePickleName).ToList();
        if (pickles.Count > 0) PickleGuard.ThrowIfPickle(pickles[0]);
        throw new FineXtractException($"{dir}: no {string.Join(" or ", names)} found");
    }

    /// <summary>A diffusers weights file usually sits beside its config.json; an LDM single file never does.</summary>
    private static string? SiblingConfig(string weights)
    {
        var sibling = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(weights))!, "config.json");
        return File.Exists(sibling) ? sibling : null;
    }

    public enum WeightsLayout { Diffusers, Ldm, LdmOpenClip }

    public static WeightsLayout DetectLayout(SafeTensorsFile file, ModelComponent component)
    {
        var keys = file.Tensors.Keys;
        bool Any(string prefix) => keys.Any(k => k.StartsWith(prefix, StringComparison.Ordinal));
        switch (component)
        {
            case ModelComponent.Unet:
                if (Any(LdmKeyMap.UNetPrefix) || Any("model_ema.diffusion_model")) return WeightsLayout.Ldm;
                if (file.Tensors.ContainsKey("conv_in.weight") && Any("down_blocks.")) return WeightsLayout.Diffusers;
                break;
            case ModelComponent.Vae:
                if (Any(LdmKeyMap.VaePrefix)) return WeightsLayout.Ldm;
                if (file.Tensors.ContainsKey("encoder.conv_in.weight")) return WeightsLayout.Diffusers;
                break;
            case ModelComponent.TextEncoder:
                if (Any(LdmKeyMap.ClipPrefix)) return WeightsLayout.Ldm;
                if (Any(LdmKeyMap.OpenClipPrefix)) return WeightsLayout.LdmOpenClip;
                if (Any("text_model.")) return WeightsLayout.Diffusers;
                break;
        }
        string sample = string.Join(", ", keys.Take(3).Select(k => $"'{k}'"));
        throw new CheckpointFormatException(
            $"{file.Path}: no {component} weights in a known layout (diffusers or LDM single file); keys start with {sample}");
    }

    private static UNet2DConditionModel BuildUnet(SafeTensorsFile file, WeightsLayout layout, string? configPath, bool preferEma)
    {
        if (layout == WeightsLayout.Diffusers)
        {
            var cfg = configPath is null
                ? throw new FineXtractException($"{file.Path}: a diffusers-layout UNet needs its config.json (pass --config)")
                : UNet2DConditionConfig.FromJson(ConfigJson.Load(configPath));
            var model = new UNet2DConditionModel(cfg);
            StateDictLoader.Load(model, file, KeyMapping.Identity(), "UNet");
            return model;
        }

        bool hasModel = file.Tensors.Keys.Any(k => k.StartsWith(LdmKeyMap.UNetPrefix));
        int emaKeys = file.Tensors.Keys.Count(k => k.StartsWith("model_ema.diffusion_model"));
        bool useEma = emaKeys > 100 && (preferEma || !hasModel);
        var config = configPath is not null ? UNet2DConditionConfig.FromJson(ConfigJson.Load(configPath))
            : hasModel ? ConfigInference.UNet(file, LdmKeyMap.UNetPrefix)
            : throw new FineXtractException($"{file.Path}: EMA-only UNet needs --config");
        var unet = new UNet2DConditionModel(config);
        bool UpHasAttention(int i) => config.UpBlockTypes[i] == "CrossAttnUpBlock2D";
        string Ldm(string k) => LdmKeyMap.UNet(k, config.LayersPerBlock, UpHasAttention);
        var mapping = useEma
            ? new KeyMapping(k => LdmKeyMap.Ema(Ldm(k)), k => k.StartsWith("model_ema.diffusion_model"))
            : new KeyMapping(k => LdmKeyMap.UNetPrefix + Ldm(k), k => k.StartsWith(LdmKeyMap.UNetPrefix));
        StateDictLoader.Load(unet, file, mapping, useEma ? "UNet (EMA weights)" : "UNet");
        return unet;
    }

    private static AutoencoderKL BuildVae(SafeTensorsFile file, WeightsLayout layout, string? configPath)
    {
        var cfg = configPath is not null ? AutoencoderKLConfig.FromJson(ConfigJson.Load(configPath))
            : layout == WeightsLayout.Ldm ? ConfigInference.Vae(file, LdmKeyMap.VaePrefix)
            : throw new FineXtractException($"{file.Path}: a diffusers-layout VAE needs its config.json (pass --config)");
        var vae = new AutoencoderKL(cfg);
        int levels = cfg.BlockOutChannels.Length;
        var mapping = layout == WeightsLayout.Ldm
            ? new KeyMapping(k => LdmKeyMap.VaePrefix + LdmKeyMap.Vae(k, levels), k => k.StartsWith(LdmKeyMap.VaePrefix), LdmKeyMap.VaeTransform)
            : KeyMapping.Identity();
        StateDictLoader.Load(vae, file, mapping, "VAE");
        return vae;
    }

    private static ClipTextModel BuildTextEncoder(SafeTensorsFile file, WeightsLayout layout, string? configPath)
    {
        var cfg = configPath is not null ? ClipTextConfig.FromJson(ConfigJson.Load(configPath))
            : layout == WeightsLayout.Ldm ? ConfigInference.Clip(file, LdmKeyMap.ClipPrefix, openClip: false)
            : layout == WeightsLayout.LdmOpenClip ? ConfigInference.Clip(file, LdmKeyMap.OpenClipPrefix, openClip: true)
            : throw new FineXtractException($"{file.Path}: a transformers-layout text encoder needs its config.json (pass --config)");
        var model = new ClipTextModel(cfg);
        // position_ids is regenerated (merges corrupt it); SD2 drops OpenCLIP's last block and projection.
        static bool Ignored(string k) => k.EndsWith("position_ids") || k.EndsWith("text_projection") || k.EndsWith("logit_scale");
        var mapping = layout switch
        {
            WeightsLayout.Ldm => KeyMapping.Identity(LdmKeyMap.ClipPrefix, Ignored),
            WeightsLayout.LdmOpenClip => new KeyMapping(k => LdmKeyMap.OpenClipPrefix + LdmKeyMap.OpenClip(k),
                k => k.StartsWith(LdmKeyMap.OpenClipPrefix), LdmKeyMap.OpenClipTransform,
                k => Ignored(k) || k.StartsWith($"{LdmKeyMap.OpenClipPrefix}transformer.resblocks.{cfg.NumHiddenLayers}.")),
            _ => KeyMapping.Identity("", Ignored),
        };
        StateDictLoader.Load(model, file, mapping, "text encoder");
        return model;
    }
}
