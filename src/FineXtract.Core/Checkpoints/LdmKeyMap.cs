using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace FineXtract.Checkpoints;

/// <summary>
/// Names of diffusers/transformers parameters in the CompVis/LDM single-file layout that civitai ships
/// (sd-formats.md §3.2). Each function maps a model key to its file key, so the model's own structure
/// drives the lookup.
/// </summary>
public static partial class LdmKeyMap
{
    public const string UNetPrefix = "model.diffusion_model.";
    public const string VaePrefix = "first_stage_model.";
    public const string ClipPrefix = "cond_stage_model.transformer.";
    public const string OpenClipPrefix = "cond_stage_model.model.";

    private static readonly (string Diffusers, string Ldm)[] ResnetParts =
    [
        ("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("time_emb_proj", "emb_layers.1"),
        ("norm2", "out_layers.0"), ("conv2", "out_layers.3"), ("conv_shortcut", "skip_connection"),
    ];

    /// <summary>UNet key → LDM key (without prefix), for <paramref name="layersPerBlock"/> resnets per down level.</summary>
    public static string UNet(string key, int layersPerBlock, Func<int, bool> upBlockHasAttention)
    {
        int per = layersPerBlock + 1;
        Match m;
        if ((m = TimeEmbedding().Match(key)).Success)
            return $"time_embed.{(m.Groups[1].Value == "1" ? 0 : 2)}.{m.Groups[2].Value}";
        if (key.StartsWith("conv_in.")) return "input_blocks.0.0." + key["conv_in.".Length..];
        if (key.StartsWith("conv_norm_out.")) return "out.0." + key["conv_norm_out.".Length..];
        if (key.StartsWith("conv_out.")) return "out.2." + key["conv_out.".Length..];
        if ((m = DownPart().Match(key)).Success)
        {
            int i = int.Parse(m.Groups[1].Value), j = int.Parse(m.Groups[3].Value);
            string rest = m.Groups[4].Value;
            return m.Groups[2].Value switch
            {
                "resnets" => $"input_blocks.{per * i + j + 1}.0.{Resnet(rest)}",
                "attentions" => $"input_blocks.{per * i + j + 1}.1.{rest}",
                _ => $"input_blocks.{per * i + per}.0.op.{rest["conv.".Length..]}",
            };
        }
        if ((m = MidPart().Match(key)).Success)
        {
            int j = int.Parse(m.Groups[2].Value);
            string rest = m.Groups[3].Value;
            return m.Groups[1].Value == "attentions" ? $"middle_block.1.{rest}" : $"middle_block.{2 * j}.{Resnet(rest)}";
        }
        if ((m = UpPart().Match(key)).Success)
        {
            int i = int.Parse(m.Groups[1].Value), j = int.Parse(m.Groups[3].Value);
            string rest = m.Groups[4].Value;
            return m.Groups[2].Value switch
            {
                "resnets" => $"output_blocks.{per * i + j}.0.{Resnet(rest)}",
                "attentions" => $"output_blocks.{per * i + j}.1.{rest}",
                _ => $"output_blocks.{per * i + per - 1}.{(upBlockHasAttention(i) ? 2 : 1)}.{rest}",
            };
        }
        throw new ArgumentException($"no LDM name for UNet key '{key}'");
    }

    /// <summary>EMA copy of an LDM UNet key: <c>model_ema.</c> + the key after <c>model.</c> with dots removed.</summary>
    public static string Ema(string ldmKeyWithoutPrefix) => "model_ema." + ("diffusion_model." + ldmKeyWithoutPrefix).Replace(".", "");

    /// <summary>VAE key → LDM key (without prefix). Decoder up blocks are numbered in reverse in LDM.</summary>
    public static string Vae(string key, int levels)
    {
        Match m;
        if ((m = VaeDownPart().Match(key)).Success)
        {
            string rest = m.Groups[4].Value;
            return m.Groups[2].Value == "resnets"
                ? $"encoder.down.{m.Groups[1].Value}.block.{m.Groups[3].Value}.{VaeResnet(rest)}"
                : $"encoder.down.{m.Groups[1].Value}.downsample.{rest}";
        }
        if ((m = VaeUpPart().Match(key)).Success)
        {
            int ldmLevel = levels - 1 - int.Parse(m.Groups[1].Value);
            string rest = m.Groups[4].Value;
            return m.Groups[2].Value == "resnets"
                ? $"decoder.up.{ldmLevel}.block.{m.Groups[3].Value}.{VaeResnet(rest)}"
                : $"decoder.up.{ldmLevel}.upsample.{rest}";
        }
        if ((m = VaeMidPart().Match(key)).Success)
        {
            string coder = m.Groups[1].Value, rest = m.Groups[4].Value;
            if (m.Groups[2].Value == "resnets")
                return $"{coder}.mid.block_{int.Parse(m.Groups[3].Value) + 1}.{VaeResnet(rest)}";
            return $"{coder}.mid.attn_1.{VaeAttention(rest)}";
        }
        if (key.StartsWith("encoder.conv_norm_out.") || key.StartsWith("decoder.conv_norm_out."))
            return key.Replace("conv_norm_out.", "norm_out.");
        return key; // conv_in, conv_out, quant_conv, post_quant_conv
    }

    /// <summary>LDM stores the VAE attention projections as 1×1 convolutions.</summary>
    public static Tensor VaeTransform(string key, Tensor t) =>
        key.Contains(".mid_block.attentions.") && key.EndsWith(".weight") && t.dim() == 4 ? t.flatten(1) : t.alias();

    /// <summary>SD2's OpenCLIP text tower (<c>cond_stage_model.model.</c>) → transformers' CLIPTextModel keys.</summary>
    public static string OpenClip(string key)
    {
        Match m;
        if (key == "text_model.embeddings.token_embedding.weight") return "token_embedding.weight";
        if (key == "text_model.embeddings.position_embedding.weight") return "positional_embedding";
        if (key.StartsWith("text_model.final_layer_norm.")) return "ln_final." + key.Split('.')[^1];
        if ((m = ClipLayerPart().Match(key)).Success)
        {
            string n = m.Groups[1].Value, part = m.Groups[2].Value, leaf = m.Groups[3].Value;
            string block = $"transformer.resblocks.{n}.";
            return part switch
            {
                "self_attn.q_proj" or "self_attn.k_proj" or "self_attn.v_proj" => block + "attn.in_proj_" + leaf,
                "self_attn.out_proj" => block + "attn.out_proj." + leaf,
                "layer_norm1" => block + "ln_1." + leaf,
                "layer_norm2" => block + "ln_2." + leaf,
                "mlp.fc1" => block + "mlp.c_fc." + leaf,
                _ => block + "mlp.c_proj." + leaf,
            };
        }
        throw new ArgumentException($"no OpenCLIP name for text encoder key '{key}'");
    }

    /// <summary>OpenCLIP packs q, k, v into one in_proj tensor; take this projection's third.</summary>
    public static Tensor OpenClipTransform(string key, Tensor t)
    {
        int which = key.Contains(".q_proj.") ? 0 : key.Contains(".k_proj.") ? 1 : key.Contains(".v_proj.") ? 2 : -1;
        if (which < 0) return t.alias();
        long third = t.shape[0] / 3;
        return t.narrow(0, which * third, third).contiguous();
    }

    private static string Resnet(string rest)
    {
        foreach (var (d, l) in ResnetParts)
            if (rest.StartsWith(d + ".")) return l + rest[d.Length..];
        return rest;
    }

    private static string VaeResnet(string rest) => rest.StartsWith("conv_shortcut.") ? "nin_shortcut" + rest["conv_shortcut".Length..] : rest;

    private static string VaeAttention(string rest) => rest switch
    {
        _ when rest.StartsWith("group_norm.") => "norm" + rest["group_norm".Length..],
        _ when rest.StartsWith("to_q.") => "q" + rest["to_q".Length..],
        _ when rest.StartsWith("to_k.") => "k" + rest["to_k".Length..],
        _ when rest.StartsWith("to_v.") => "v" + rest["to_v".Length..],
        _ when rest.StartsWith("to_out.0.") => "proj_out" + rest["to_out.0".Length..],
        _ => rest,
    };

    [GeneratedRegex(@"^time_embedding\.linear_(\d)\.(.+)$")] private static partial Regex TimeEmbedding();
    [GeneratedRegex(@"^down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)\.(.+)$")] private static partial Regex DownPart();
    [GeneratedRegex(@"^mid_block\.(resnets|attentions)\.(\d+)\.(.+)$")] private static partial Regex MidPart();
    [GeneratedRegex(@"^up_blocks\.(\d+)\.(resnets|attentions|upsamplers)\.(\d+)\.(.+)$")] private static partial Regex UpPart();
    [GeneratedRegex(@"^encoder\.down_blocks\.(\d+)\.(resnets|downsamplers)\.(\d+)\.(.+)$")] private static partial Regex VaeDownPart();
    [GeneratedRegex(@"^decoder\.up_blocks\.(\d+)\.(resnets|upsamplers)\.(\d+)\.(.+)$")] private static partial Regex VaeUpPart();
    [GeneratedRegex(@"^(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d+)\.(.+)$")] private static partial Regex VaeMidPart();
    [GeneratedRegex(@"^text_model\.encoder\.layers\.(\d+)\.(self_attn\.[qkv]_proj|self_attn\.out_proj|layer_norm1|layer_norm2|mlp\.fc1|mlp\.fc2)\.(weight|bias)$")] private static partial Regex ClipLayerPart();
}
