using System.Text.RegularExpressions;
using TorchSharp;
using static TorchSharp.torch;

namespace FineXtract.Checkpoints.Lora;

public enum LoraTarget { Unet, TextEncoder }

/// <summary>One low-rank update: ΔW = (alpha / rank) · up @ down, for the module named <see cref="Name"/>.</summary>
public sealed record LoraModule(LoraTarget Target, string Name, string DownKey, string UpKey, string? AlphaKey);

/// <summary>
/// A LoRA file in one of the formats people publish: kohya-ss (civitai: <c>lora_unet_*</c>/<c>lora_te_*</c> with
/// <c>lora_down</c>/<c>lora_up</c>/<c>alpha</c>, including LoCon conv layers), peft (<c>lora_A</c>/<c>lora_B</c>), diffusers
/// (<c>.lora.down</c>/<c>.lora.up</c>) and the old attention-processor form. Kohya names are resolved against the
/// model's own module list, because underscores in them are ambiguous (<c>to_out_0</c>, <c>time_emb_proj</c>).
/// </summary>
public sealed partial class LoraAdapter : IDisposable
{
    private readonly SafeTensorsFile _file;

    public string Path => _file.Path;
    public string Format { get; }
    public IReadOnlyList<LoraModule> Modules { get; }
    public IReadOnlyDictionary<string, string> Metadata => _file.Metadata;

    private LoraAdapter(SafeTensorsFile file, string format, IReadOnlyList<LoraModule> modules)
    {
        _file = file;
        Format = format;
        Modules = modules;
    }

    public static LoraAdapter Open(string path)
    {
        var file = SafeTensorsFile.Open(path);
        try
        {
            var (format, modules) = Parse(file);
            return new LoraAdapter(file, format, modules);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static (string, List<LoraModule>) Parse(SafeTensorsFile file)
    {
        var keys = file.Tensors.Keys.ToList();
        if (keys.Any(k => k.Contains(".hada_w1") || k.Contains(".lokr_w1") || k.Contains(".lokr_w2")))
            throw new CheckpointFormatException($"{file.Path}: LyCORIS LoHa/LoKr adapters are not supported yet (only LoRA/LoCon)");
        if (keys.Any(k => k.EndsWith(".dora_scale")))
            throw new CheckpointFormatException($"{file.Path}: DoRA adapters are not supported yet");
        if (keys.Any(k => k.StartsWith("lora_te1_") || k.StartsWith("lora_te2_")))
            throw new CheckpointFormatException($"{file.Path}: this is an SDXL LoRA (lora_te1_/lora_te2_); only SD 1.x/2.x bases are supported");

        var modules = new List<LoraModule>();
        string? format = null;
        foreach (var key in keys)
        {
            Match m;
            if ((m = Kohya().Match(key)).Success)
            {
                format = "kohya";
                string stem = m.Groups[1].Value;
                var target = stem.StartsWith("lora_unet_") ? LoraTarget.Unet : LoraTarget.TextEncoder;
                modules.Add(new LoraModule(target, stem, key, stem + ".lora_up.weight", Alpha(file, stem + ".alpha")));
            }
            else if ((m = PeftOrDiffusers().Match(key)).Success)
            {
                bool peft = m.Groups[3].Value == "lora_A";
                format = peft ? "peft" : "diffusers";
                var target = m.Groups[1].Value == "unet" ? LoraTarget.Unet : LoraTarget.TextEncoder;
                string prefix = $"{m.Groups[1].Value}.{m.Groups[2].Value}";
                string up = peft ? $"{prefix}.lora_B.weight" : $"{prefix}.lora.up.weight";
                modules.Add(new LoraModule(target, m.Groups[2].Value, key, up, Alpha(file, prefix + ".alpha")));
            }
            else if ((m = AttnProcs().Match(key)).Success)
            {
                format = "diffusers-attn-procs";
                string module = $"{m.Groups[1].Value}.{(m.Groups[2].Value == "out" ? "to_out.0" : "to_" + m.Groups[2].Value)}";
                modules.Add(new LoraModule(LoraTarget.Unet, module, key, key.Replace(".down.weight", ".up.weight"), null));
            }
            else if ((m = TextEncoderAttnProcs().Match(key)).Success)
            {
                format = "diffusers-attn-procs";
                modules.Add(new LoraModule(LoraTarget.TextEncoder, m.Groups[1].Value, key, key.Replace(".down.weight", ".up.weight"), null));
            }
        }
        if (modules.Count == 0)
            throw new CheckpointFormatException(
                $"{file.Path}: no LoRA modules found (expected kohya lora_down/lora_up, peft lora_A/lora_B or diffusers lora.down/lora.up keys)");
        foreach (var mod in modules)
            if (!file.Tensors.ContainsKey(mod.UpKey))
                throw new CheckpointFormatException($"{file.Path}: LoRA module '{mod.Name}' has a down weight but no '{mod.UpKey}'");
        return (format!, modules);
    }

    private static string? Alpha(SafeTensorsFile file, string key) => file.Tensors.ContainsKey(key) ? key : null;

    /// <summary>
    /// Merges every module of <paramref name="target"/> into <paramref name="model"/>'s weights:
    /// W += scale · (alpha / rank) · up @ down (alpha defaults to the rank). Done once per checkpoint, never per step.
    /// Every LoRA module must name a Linear/Conv2d of the model with matching shapes, else the LoRA is for another base.
    /// </summary>
    /// <returns>The number of modules merged.</returns>
    public int MergeInto(nn.Module model, LoraTarget target, double scale)
    {
        var selected = Modules.Where(m => m.Target == target).ToList();
        if (selected.Count == 0) return 0;
        var table = LoraNameTable.Build(model, target, Format == "kohya");
        int merged = 0;
        using var _ = no_grad();
        foreach (var module in selected)
        {
            if (!table.TryGetValue(module.Name, out var weight))
                throw new CheckpointFormatException(
                    $"{Path}: LoRA module '{module.Name}' matches no layer of the {Describe(target)} (a LoRA for a different base model?)");
            using var scope = NewDisposeScope();
            var down = _file.Load(module.DownKey, ScalarType.Float32);
            var up = _file.Load(module.UpKey, ScalarType.Float32);
            long rank = down.shape[0];
            double alpha = module.AlphaKey is null ? rank : _file.Load(module.AlphaKey, ScalarType.Float32).item<float>();
            if (alpha == 0) alpha = rank;
            long outFeatures = up.shape[0];
            if (up.shape[1] != rank || outFeatures != weight.shape[0] || down.NumberOfElements / rank != weight.NumberOfElements / weight.shape[0])
                throw new CheckpointFormatException(
                    $"{Path}: LoRA module '{module.Name}' (down [{string.Join(",", down.shape)}], up [{string.Join(",", up.shape)}]) " +
                    $"does not fit weight [{string.Join(",", weight.shape)}] of the {Describe(target)} (a LoRA for a different base model?)");
            // Linear, 1×1 and k×k conv (kohya's LoCon puts the k×k kernel in down and a 1×1 up) all reduce to one matmul.
            var delta = up.reshape(outFeatures, rank).matmul(down.reshape(rank, -1)).reshape(weight.shape);
            weight.add_(delta.to_type(weight.dtype), alpha: scale * alpha / rank);
            merged++;
        }
        return merged;
    }

    private static string Describe(LoraTarget t) => t == LoraTarget.Unet ? "UNet" : "text encoder";

    public void Dispose() => _file.Dispose();

    [GeneratedRegex(@"^(lora_(?:unet|te)_[A-Za-z0-9_]+)\.lora_down\.weight$")] private static partial Regex Kohya();
    [GeneratedRegex(@"^(unet|text_encoder)\.(.+)\.(lora_A|lora\.down)\.weight$")] private static partial Regex PeftOrDiffusers();
    [GeneratedRegex(@"^(.+)\.processor\.to_(q|k|v|out)_lora\.down\.weight$")] private static partial Regex AttnProcs();
    [GeneratedRegex(@"^text_encoder\.(.+)\.lora_linear_layer\.down\.weight$")] private static partial Regex TextEncoderAttnProcs();
}
