using System.Buffers.Binary;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace FineXtract.Checkpoints;

/// <summary>
/// Reports what a checkpoint is without loading its weights: format, key layout, base model family, EMA, dtypes,
/// tensor and parameter counts, identification hashes and the (decoded) kohya metadata, for a .safetensors file
/// or a diffusers folder. Only headers are parsed (plus LoRA alpha scalars); pickle files are never opened.
/// </summary>
public static partial class CheckpointInspector
{
    public static CheckpointReport Inspect(string path, CancellationToken cancellationToken = default)
    {
        if (Directory.Exists(path)) return InspectFolder(path, cancellationToken);
        if (!File.Exists(path)) throw new FineXtractException($"{path}: no such file or directory");
        return InspectFile(path, cancellationToken);
    }

    // ------------------------------------------------------------------ single files

    private static CheckpointReport InspectFile(string path, CancellationToken cancellationToken)
    {
        using var file = SafeTensorsFile.Open(path);
        var analysis = Analyze(file);
        var hashes = CheckpointHashes.Compute(path, 8 + file.HeaderLength,
            file.Metadata.GetValueOrDefault("sshs_model_hash"), cancellationToken);
        var warnings = new List<string>(analysis.Warnings);
        if (hashes.SshsModelHashMatches == false)
            warnings.Add("sshs_model_hash in the metadata does not match the tensor data (AutoV3): the weights were changed after training");
        return new CheckpointReport(
            Path: path,
            Format: "safetensors",
            Layout: analysis.Layout,
            Components: analysis.Components,
            BaseModel: analysis.BaseModel,
            FileSize: file.FileLength,
            Hashes: hashes,
            Tensors: Stats(file),
            Ema: analysis.Ema,
            Lora: analysis.Lora,
            Metadata: file.Metadata.Count > 0 ? KohyaMetadata.ToJson(file.Metadata) : null,
            Pipeline: null,
            Warnings: warnings);
    }

    private static TensorStats Stats(SafeTensorsFile file)
    {
        var dtypes = new SortedDictionary<string, int>(StringComparer.Ordinal);
        long parameters = 0, used = 0;
        foreach (var t in file.Tensors.Values)
        {
            dtypes[t.DType] = dtypes.GetValueOrDefault(t.DType) + 1;
            parameters += t.ElementCount;
            used += t.ByteLength;
        }
        long dataBytes = file.FileLength - 8 - file.HeaderLength;
        // Tensors never overlap (the reader checks), so what they do not cover is dataBytes - used.
        return new TensorStats(file.Tensors.Count, parameters, dtypes, file.HeaderLength, dataBytes, dataBytes - used);
    }

    private sealed record Analysis(string Layout, IReadOnlyList<string> Components, BaseModelGuess BaseModel,
        EmaInfo? Ema, LoraInfo? Lora, IReadOnlyList<string> Warnings);

    private static Analysis Analyze(SafeTensorsFile file)
    {
        var tensors = file.Tensors;
        var keys = tensors.Keys;
        var warnings = new List<string>();
        var unreferenced = Stats(file).UnreferencedBytes;
        if (unreferenced > 0)
            warnings.Add($"{unreferenced} bytes of the data section belong to no tensor (not written by the reference writer)");

        string? loraLayout = LoraLayout(keys);
        if (loraLayout is not null)
        {
            var lora = DescribeLora(file, loraLayout);
            var guess = GuessLoraBase(file, loraLayout, warnings);
            return new Analysis(loraLayout, LoraComponents(lora), guess, null, lora, warnings);
        }

        int emaKeys = keys.Count(k => k.StartsWith("model_ema.", StringComparison.Ordinal)
                                      && k is not "model_ema.decay" and not "model_ema.num_updates");
        var ema = emaKeys > 0 || keys.Any(k => k.StartsWith("model_ema.", StringComparison.Ordinal))
            ? new EmaInfo(emaKeys > 100, emaKeys)
            : new EmaInfo(false, 0);

        var (layout, components) = ModelLayout(keys);
        var baseGuess = layout == "unknown"
            ? new BaseModelGuess("unknown", null, ["no known key layout"])
            : GuessModelBase(tensors, components);
        return new Analysis(layout, components, baseGuess, ema, null, warnings);
    }

    // ------------------------------------------------------------------ layouts

    private static bool IsLoHa(string k) => k.Contains(".hada_w1_", StringComparison.Ordinal) || k.Contains(".hada_w2_", StringComparison.Ordinal);
    private static bool IsLoKr(string k) => k.Contains(".lokr_w1", StringComparison.Ordinal) || k.Contains(".lokr_w2", StringComparison.Ordinal);
    private static bool IsKohyaName(string k) => k.StartsWith("lora_unet_", StringComparison.Ordinal) || k.StartsWith("lora_te", StringComparison.Ordinal);
    private static bool IsKohyaLora(string k) => IsKohyaName(k) && (k.EndsWith(".lora_down.weight", StringComparison.Ordinal) || k.EndsWith(".lora_up.weight", StringComparison.Ordinal));
    private static bool IsPeft(string k) => k.Contains(".lora_A.", StringComparison.Ordinal) || k.Contains(".lora_B.", StringComparison.Ordinal);
    private static bool IsDiffusersLora(string k) =>
        k.Contains(".lora.down.", StringComparison.Ordinal) || k.Contains(".lora.up.", StringComparison.Ordinal)
        || k.Contains("_lora.down.", StringComparison.Ordinal) || k.Contains("_lora.up.", StringComparison.Ordinal)
        || k.Contains(".lora_linear_layer.down.", StringComparison.Ordinal) || k.Contains(".lora_linear_layer.up.", StringComparison.Ordinal);

    private static string? LoraLayout(IEnumerable<string> keys)
    {
        bool lycoris = false, kohya = false, peft = false, diffusers = false;
        foreach (var k in keys)
        {
            lycoris |= IsLoHa(k) || IsLoKr(k);
            kohya |= IsKohyaLora(k);
            peft |= IsPeft(k);
            diffusers |= IsDiffusersLora(k);
        }
        return lycoris ? "lycoris" : kohya ? "kohya-lora" : peft ? "peft-lora" : diffusers ? "diffusers-lora" : null;
    }

    private static readonly string[] LdmUnetRoots = ["input_blocks.", "middle_block.", "output_blocks.", "time_embed.", "out.0.", "out.2."];

    private static (string Layout, IReadOnlyList<string> Components) ModelLayout(IEnumerable<string> keys)
    {
        bool ldmUnet = false, ldmVae = false, ldmText = false, ldmText2 = false, bareUnet = false;
        bool dUnet = false, dVae = false, dText = false, dText2 = false;
        foreach (var k in keys)
        {
            if (k.StartsWith("model.diffusion_model.", StringComparison.Ordinal)) ldmUnet = true;
            else if (k.StartsWith("first_stage_model.", StringComparison.Ordinal)) ldmVae = true;
            else if (k.StartsWith("cond_stage_model.", StringComparison.Ordinal) || k.StartsWith("conditioner.embedders.0.", StringComparison.Ordinal)) ldmText = true;
            else if (k.StartsWith("conditioner.embedders.1.", StringComparison.Ordinal)) ldmText2 = true;
            else if (LdmUnetRoots.Any(r => k.StartsWith(r, StringComparison.Ordinal))) bareUnet = true;
            else if (k.StartsWith("down_blocks.", StringComparison.Ordinal) || k.StartsWith("time_embedding.", StringComparison.Ordinal)
                     || k.StartsWith("mid_block.", StringComparison.Ordinal) || k.StartsWith("up_blocks.", StringComparison.Ordinal)) dUnet = true;
            else if (k.StartsWith("encoder.down_blocks.", StringComparison.Ordinal) || k.StartsWith("decoder.up_blocks.", StringComparison.Ordinal)) dVae = true;
            else if (k.StartsWith("text_model.", StringComparison.Ordinal)) dText = true;
            else if (k == "text_projection.weight") dText2 = true;
        }
        if (ldmUnet || ldmVae || ldmText || ldmText2)
        {
            var c = new List<string>();
            if (ldmUnet) c.Add("unet");
            if (ldmVae) c.Add("vae");
            if (ldmText) c.Add("text_encoder");
            if (ldmText2) c.Add("text_encoder_2");
            return ("ldm", c);
        }
        if (bareUnet && !dUnet) return ("unet-only", ["unet"]);
        if (dUnet || dVae || dText)
        {
            var c = new List<string>();
            if (dUnet) c.Add("unet");
            if (dVae) c.Add("vae");
            // CLIPTextModelWithProjection (SDXL's second encoder) adds text_projection.
            if (dText) c.Add(dText2 ? "text_encoder_2" : "text_encoder");
            return ("diffusers", c);
        }
        return ("unknown", []);
    }

    // ------------------------------------------------------------------ base model: full models

    private static string FamilyOfContextDim(int dim) => dim switch
    {
        768 => "sd1",
        1024 => "sd2",
        2048 => "sdxl",
        _ => "unknown",
    };

    private static string Pretty(string family) => family switch
    {
        "sd1" => "SD 1.x",
        "sd2" => "SD 2.x",
        "sdxl" => "SDXL",
        _ => family,
    };

    private static BaseModelGuess GuessModelBase(IReadOnlyDictionary<string, SafeTensorInfo> tensors, IReadOnlyList<string> components)
    {
        var evidence = new List<string>();
        int? context = null;
        string? contextKey = null;
        bool? convProjIn = null;
        bool sdxlMarker = false, openClip = false;
        int? textWidth = null;
        foreach (var (k, t) in tensors)
        {
            if (context is null && k.EndsWith("attn2.to_k.weight", StringComparison.Ordinal) && t.Shape.Length == 2
                && !k.StartsWith("first_stage_model.", StringComparison.Ordinal))
            {
                context = (int)Math.Min(t.Shape[1], int.MaxValue);
                contextKey = k;
            }
            if (convProjIn is null && k.EndsWith(".proj_in.weight", StringComparison.Ordinal) && t.Shape.Length is 2 or 4)
                convProjIn = t.Shape.Length == 4;
            if (!sdxlMarker && (k.StartsWith("conditioner.embedders.1.", StringComparison.Ordinal)
                                || k.EndsWith("add_embedding.linear_1.weight", StringComparison.Ordinal)
                                || k.EndsWith("label_emb.0.0.weight", StringComparison.Ordinal)))
            {
                sdxlMarker = true;
                evidence.Add($"has {k} (SDXL: second text encoder / size-and-crop conditioning)");
            }
            if (k.StartsWith("cond_stage_model.model.", StringComparison.Ordinal)) openClip = true;
            if (textWidth is null && k.EndsWith("text_model.final_layer_norm.weight", StringComparison.Ordinal) && t.Shape.Length == 1)
                textWidth = (int)Math.Min(t.Shape[0], int.MaxValue);
            if (textWidth is null && k == "cond_stage_model.model.ln_final.weight" && t.Shape.Length == 1)
                textWidth = (int)Math.Min(t.Shape[0], int.MaxValue);
        }

        if (context is { } ctx)
        {
            var family = FamilyOfContextDim(ctx);
            if (family != "unknown")
            {
                evidence.Insert(0, $"cross-attention context width {ctx} ({contextKey} input) → {Pretty(family)}");
                return new BaseModelGuess(family, ctx, evidence);
            }
        }
        if (sdxlMarker) return new BaseModelGuess("sdxl", context, evidence);

        if (components.Contains("unet") && convProjIn is not null)
        {
            string width = context is null ? "no cross-attention found" : $"cross-attention context width {context} matches no released model";
            if (convProjIn == true && !openClip)
            {
                evidence.Add($"{width}; convolutional (1×1) proj_in, one CLIP text encoder and no SDXL added conditioning → {Pretty("sd1")} structure");
                return new BaseModelGuess("sd1", context, evidence);
            }
            if (convProjIn == false)
            {
                evidence.Add($"{width}; linear proj_in and no SDXL added conditioning → {Pretty("sd2")} structure");
                return new BaseModelGuess("sd2", context, evidence);
            }
        }
        if (textWidth is { } tw)
        {
            var family = openClip ? "sd2" : FamilyOfContextDim(tw);
            if (family != "unknown")
            {
                evidence.Add(openClip ? "OpenCLIP text encoder (cond_stage_model.model.) → SD 2.x" : $"text encoder width {tw} → {Pretty(family)}");
                return new BaseModelGuess(family, null, evidence);
            }
            evidence.Add($"text encoder width {tw} matches no released model");
        }
        if (components.Count == 1 && components[0] == "vae")
            evidence.Add("VAE weights alone do not identify the base model (SD 1.x and 2.x share the VAE architecture)");
        if (evidence.Count == 0) evidence.Add("no cross-attention, projection or text-encoder weights to judge by");
        return new BaseModelGuess("unknown", context, evidence);
    }

    // ------------------------------------------------------------------ LoRAs

    private static readonly string[] DownSuffixes = [".lora_down.weight", ".lora_A.weight", ".lora_A.default.weight", ".lora.down.weight", "_lora.down.weight", ".lora_linear_layer.down.weight"];

    /// <summary>The module a LoRA key belongs to (kohya: before the first '.'; others: before the LoRA part).</summary>
    private static string? ModuleOf(string key, string layout)
    {
        if (layout is "kohya-lora" or "lycoris")
        {
            if (!IsKohyaName(key)) return null;
            int dot = key.IndexOf('.');
            return dot < 0 ? key : key[..dot];
        }
        foreach (var marker in new[] { ".lora_A.", ".lora_B.", ".lora.down.", ".lora.up.", "_lora.down.", "_lora.up.", ".lora_linear_layer.down.", ".lora_linear_layer.up.", ".alpha" })
        {
            int i = key.IndexOf(marker, StringComparison.Ordinal);
            if (i > 0) return key[..i];
        }
        return null;
    }

    private enum Target { Unet, TextEncoder, TextEncoder2 }

    private static Target TargetOf(string module)
    {
        if (module.StartsWith("lora_te2_", StringComparison.Ordinal) || module.StartsWith("text_encoder_2.", StringComparison.Ordinal)) return Target.TextEncoder2;
        if (module.StartsWith("lora_te", StringComparison.Ordinal) || module.StartsWith("text_encoder.", StringComparison.Ordinal)
            || module.Contains("text_model", StringComparison.Ordinal)) return Target.TextEncoder;
        return Target.Unet;
    }

    private static LoraInfo DescribeLora(SafeTensorsFile file, string layout)
    {
        var modules = new HashSet<string>(StringComparer.Ordinal);
        var convModules = new HashSet<string>(StringComparer.Ordinal);
        var rankOf = new Dictionary<string, long>(StringComparer.Ordinal);
        var alphas = new SortedDictionary<string, int>(StringComparer.Ordinal);
        bool loha = false, lokr = false, plain = false, ldmNames = false, diffusersNames = false;
        foreach (var (k, t) in file.Tensors)
        {
            var module = ModuleOf(k, layout);
            if (module is null) continue;
            modules.Add(module);
            loha |= IsLoHa(k);
            lokr |= IsLoKr(k);
            if (module.StartsWith("lora_unet_", StringComparison.Ordinal))
            {
                ldmNames |= module.StartsWith("lora_unet_input_blocks_", StringComparison.Ordinal) || module.StartsWith("lora_unet_middle_block_", StringComparison.Ordinal) || module.StartsWith("lora_unet_output_blocks_", StringComparison.Ordinal);
                diffusersNames |= module.StartsWith("lora_unet_down_blocks_", StringComparison.Ordinal) || module.StartsWith("lora_unet_mid_block_", StringComparison.Ordinal) || module.StartsWith("lora_unet_up_blocks_", StringComparison.Ordinal);
            }
            if (DownSuffixes.Any(s => k.EndsWith(s, StringComparison.Ordinal)))
            {
                plain = true;
                if (t.Shape.Length >= 1) rankOf[module] = t.Shape[0];
                if (t.Shape.Length == 4 && t.Shape[2] * t.Shape[3] > 1) convModules.Add(module);
            }
            else if (k.EndsWith(".hada_w1_b", StringComparison.Ordinal) && t.Shape.Length == 2)
            {
                rankOf[module] = t.Shape[0];
            }
            else if (k.EndsWith(".lokr_w2_a", StringComparison.Ordinal) && t.Shape.Length == 2 && !rankOf.ContainsKey(module))
            {
                rankOf[module] = t.Shape[1];
            }
            else if (k.EndsWith(".alpha", StringComparison.Ordinal) && t.ElementCount == 1 && ReadScalar(file, t) is { } alpha)
            {
                var text = alpha.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
                alphas[text] = alphas.GetValueOrDefault(text) + 1;
            }
        }
        var ranks = new SortedDictionary<string, int>(Comparer<string>.Create((a, b) =>
            long.Parse(a, System.Globalization.CultureInfo.InvariantCulture).CompareTo(long.Parse(b, System.Globalization.CultureInfo.InvariantCulture))));
        foreach (var r in rankOf.Values)
        {
            var key = r.ToString(System.Globalization.CultureInfo.InvariantCulture);
            ranks[key] = ranks.GetValueOrDefault(key) + 1;
        }
        var algorithms = new List<string>();
        if (plain) algorithms.Add("lora");
        if (loha) algorithms.Add("loha");
        if (lokr) algorithms.Add("lokr");
        return new LoraInfo(
            Algorithm: algorithms.Count == 0 ? "unknown" : string.Join('+', algorithms),
            Modules: modules.Count,
            UnetModules: modules.Count(m => TargetOf(m) == Target.Unet),
            TextEncoderModules: modules.Count(m => TargetOf(m) == Target.TextEncoder),
            TextEncoder2Modules: modules.Count(m => TargetOf(m) == Target.TextEncoder2),
            ConvModules: convModules.Count,
            Ranks: ranks,
            Alphas: alphas.Count > 0 ? alphas : null,
            UnetNaming: layout is "kohya-lora" or "lycoris" ? (ldmNames ? "ldm" : diffusersNames ? "diffusers" : null) : null,
            NetworkModule: file.Metadata.GetValueOrDefault("ss_network_module"));
    }

    private static List<string> LoraComponents(LoraInfo lora)
    {
        var c = new List<string>();
        if (lora.UnetModules > 0) c.Add("unet");
        if (lora.TextEncoderModules > 0) c.Add("text_encoder");
        if (lora.TextEncoder2Modules > 0) c.Add("text_encoder_2");
        return c;
    }

    private static double? ReadScalar(SafeTensorsFile file, SafeTensorInfo t)
    {
        var b = file.ReadBytes(t.Name);
        return t.DType switch
        {
            "F32" when b.Length == 4 => BinaryPrimitives.ReadSingleLittleEndian(b),
            "F16" when b.Length == 2 => (double)BinaryPrimitives.ReadHalfLittleEndian(b),
            "BF16" when b.Length == 2 => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(b) << 16),
            "F64" when b.Length == 8 => BinaryPrimitives.ReadDoubleLittleEndian(b),
            _ => null,
        };
    }

    private static string? FamilyFromMetadata(IReadOnlyDictionary<string, string> metadata, out string? evidence)
    {
        evidence = null;
        if (metadata.TryGetValue("ss_base_model_version", out var v) && !string.IsNullOrWhiteSpace(v))
        {
            var family = v.StartsWith("sdxl", StringComparison.OrdinalIgnoreCase) ? "sdxl"
                : v.StartsWith("sd_v2", StringComparison.OrdinalIgnoreCase) ? "sd2"
                : v.StartsWith("sd_v1", StringComparison.OrdinalIgnoreCase) ? "sd1" : null;
            if (family is not null)
            {
                evidence = $"metadata ss_base_model_version = {v}";
                return family;
            }
        }
        if (metadata.TryGetValue("modelspec.architecture", out var arch))
        {
            var family = arch.StartsWith("stable-diffusion-xl", StringComparison.OrdinalIgnoreCase) ? "sdxl"
                : arch.StartsWith("stable-diffusion-v2", StringComparison.OrdinalIgnoreCase) ? "sd2"
                : arch.StartsWith("stable-diffusion-v1", StringComparison.OrdinalIgnoreCase) ? "sd1" : null;
            if (family is not null)
            {
                evidence = $"metadata modelspec.architecture = {arch}";
                return family;
            }
        }
        if (metadata.TryGetValue("ss_v2", out var v2) && v2.Trim() is "True" or "true")
        {
            evidence = "metadata ss_v2 = True";
            return "sd2";
        }
        return null;
    }

    private static bool IsToKDown(string k) =>
        (k.Contains("attn2_to_k.", StringComparison.Ordinal) || k.Contains("attn2.to_k.", StringComparison.Ordinal) || k.Contains("attn2.processor.to_k_lora.", StringComparison.Ordinal))
        && (DownSuffixes.Any(s => k.EndsWith(s, StringComparison.Ordinal)) || k.EndsWith(".hada_w1_b", StringComparison.Ordinal) || k.EndsWith(".hada_w2_b", StringComparison.Ordinal));

    private static bool IsTextQDown(string k) =>
        (k.Contains("self_attn_q_proj.", StringComparison.Ordinal) || k.Contains("self_attn.q_proj.", StringComparison.Ordinal))
        && !k.StartsWith("lora_te2_", StringComparison.Ordinal) && !k.StartsWith("text_encoder_2.", StringComparison.Ordinal)
        && (DownSuffixes.Any(s => k.EndsWith(s, StringComparison.Ordinal)) || k.EndsWith(".hada_w1_b", StringComparison.Ordinal));

    private static BaseModelGuess GuessLoraBase(SafeTensorsFile file, string layout, List<string> warnings)
    {
        var evidence = new List<string>();
        int? context = null, textWidth = null;
        bool? convProjIn = null;
        bool secondTextEncoder = false, ldmNames = false;
        foreach (var (k, t) in file.Tensors)
        {
            if (context is null && IsToKDown(k) && t.Shape.Length == 2)
            {
                context = (int)Math.Min(t.Shape[1], int.MaxValue);
                evidence.Add($"cross-attention context width {context} (input of {k})");
            }
            if (textWidth is null && IsTextQDown(k) && t.Shape.Length == 2)
                textWidth = (int)Math.Min(t.Shape[1], int.MaxValue);
            if (convProjIn is null && (k.Contains("proj_in.", StringComparison.Ordinal) || k.Contains("_proj_in.", StringComparison.Ordinal))
                && DownSuffixes.Any(s => k.EndsWith(s, StringComparison.Ordinal)))
                convProjIn = t.Shape.Length == 4;
            secondTextEncoder |= k.StartsWith("lora_te2_", StringComparison.Ordinal) || k.StartsWith("lora_te1_", StringComparison.Ordinal)
                                 || k.StartsWith("text_encoder_2.", StringComparison.Ordinal);
            ldmNames |= k.StartsWith("lora_unet_input_blocks_", StringComparison.Ordinal) || k.StartsWith("lora_unet_output_blocks_", StringComparison.Ordinal);
        }
        if (convProjIn == true) evidence.Add("proj_in is patched as a 1×1 convolution (SD 1.x structure)");
        var fromMetadata = FamilyFromMetadata(file.Metadata, out var metadataEvidence);
        if (metadataEvidence is not null) evidence.Add(metadataEvidence);

        string? fromShapes = context is { } c && FamilyOfContextDim(c) != "unknown" ? FamilyOfContextDim(c)
            : textWidth is { } tw && FamilyOfContextDim(tw) is "sd1" or "sd2" ? FamilyOfContextDim(tw) : null;
        if (fromShapes is null && textWidth is { } w && FamilyOfContextDim(w) is "sd1" or "sd2")
            evidence.Add($"text encoder width {w}");
        else if (context is null && textWidth is { } w2)
            evidence.Add($"text encoder width {w2}");

        if (fromShapes is not null)
        {
            if (fromMetadata is not null && fromMetadata != fromShapes)
                warnings.Add($"the metadata says {Pretty(fromMetadata)} but the weight shapes say {Pretty(fromShapes)}; trusting the shapes");
            return new BaseModelGuess(fromShapes, context, evidence);
        }
        if (fromMetadata is not null)
        {
            if (context is not null) evidence.Add($"width {context} matches no released model, so the metadata decides");
            return new BaseModelGuess(fromMetadata, context, evidence);
        }
        if (secondTextEncoder)
        {
            evidence.Add("patches two text encoders (lora_te1_/lora_te2_ or text_encoder_2) → SDXL");
            return new BaseModelGuess("sdxl", context, evidence);
        }
        if (ldmNames)
        {
            evidence.Add("kohya UNet names in LDM style (lora_unet_input_blocks_…), which kohya uses for SDXL");
            return new BaseModelGuess("sdxl", context, evidence);
        }
        if (convProjIn == true)
        {
            evidence.Add($"{(context is null ? "no cross-attention width" : $"width {context} matches no released model")}, so the structure decides → {Pretty("sd1")}");
            return new BaseModelGuess("sd1", context, evidence);
        }
        if (evidence.Count == 0) evidence.Add("no attn2.to_k module, text-encoder module or metadata to judge by");
        return new BaseModelGuess("unknown", context, evidence);
    }

    // ------------------------------------------------------------------ diffusers folders

    /// <summary>The weight file names diffusers / transformers load (with variants and shards).</summary>
    [GeneratedRegex(@"^(diffusion_pytorch_model|model|pytorch_model)(\.[A-Za-z0-9_]+)?(-\d{5}-of-\d{5})?\.(safetensors|bin)$", RegexOptions.CultureInvariant)]
    private static partial Regex WeightFileName();

    private static readonly string[] ConfigFiles = ["config.json", "scheduler_config.json", "tokenizer_config.json", "preprocessor_config.json"];

    private static CheckpointReport InspectFolder(string dir, CancellationToken cancellationToken)
    {
        var index = System.IO.Path.Combine(dir, "model_index.json");
        var warnings = new List<string>();
        string? className = null, version = null;
        var components = new List<ComponentInfo>();
        var guesses = new Dictionary<string, BaseModelGuess>(StringComparer.Ordinal);
        if (File.Exists(index))
        {
            using var doc = ReadJson(index);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new FineXtractException($"{index}: model_index.json must be a JSON object");
            className = StringOrNull(doc.RootElement, "_class_name");
            version = StringOrNull(doc.RootElement, "_diffusers_version");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name.StartsWith('_') || prop.Value.ValueKind != JsonValueKind.Array || prop.Value.GetArrayLength() != 2) continue;
                string? library = prop.Value[0].ValueKind == JsonValueKind.String ? prop.Value[0].GetString() : null;
                string? cls = prop.Value[1].ValueKind == JsonValueKind.String ? prop.Value[1].GetString() : null;
                if (library is null && cls is null) continue; // e.g. safety_checker: [null, null]
                if (prop.Name.Contains('/') || prop.Name.Contains('\\') || prop.Name is "." or "..")
                    throw new FineXtractException($"{index}: component name '{prop.Name}' is not a folder name");
                var (component, componentGuess) = InspectComponent(dir, prop.Name, library, cls, cancellationToken);
                if (componentGuess is not null) guesses[prop.Name] = componentGuess;
                if (!component.Exists) warnings.Add($"component '{prop.Name}' is listed in model_index.json but its folder is missing");
                components.Add(component);
            }
        }
        else if (ConfigFiles.Any(c => File.Exists(System.IO.Path.Combine(dir, c))))
        {
            // A single component folder, e.g. DreamBooth's checkpoint-N/unet.
            var full = System.IO.Path.GetFullPath(dir).TrimEnd(System.IO.Path.DirectorySeparatorChar);
            var (component, componentGuess) = InspectComponent(
                System.IO.Path.GetDirectoryName(full) ?? full, System.IO.Path.GetFileName(full), null, null, cancellationToken);
            if (componentGuess is not null) guesses[component.Name] = componentGuess;
            components.Add(component);
        }
        else
        {
            throw new FineXtractException($"{dir}: not a diffusers folder (no model_index.json or config.json); pass a .safetensors file instead");
        }

        // Judged from the UNet weights, else from a text encoder's.
        BaseModelGuess? guess = null;
        foreach (var name in new[] { "unet", "text_encoder", "text_encoder_2" })
        {
            if (guesses.TryGetValue(name, out var g) && g.Family != "unknown")
            {
                guess = g with { Evidence = g.Evidence.Select(e => $"{name}: {e}").ToList() };
                break;
            }
        }
        guess ??= new BaseModelGuess("unknown", null, ["no UNet or text-encoder safetensors weights to judge by"]);
        if (className is not null && className.Contains("XL", StringComparison.Ordinal) && guess.Family != "sdxl")
            warnings.Add($"pipeline class {className} suggests SDXL but the weights say {guess.Family}");

        return new CheckpointReport(
            Path: dir,
            Format: "diffusers-folder",
            Layout: "diffusers",
            Components: components.Select(c => c.Name).ToList(),
            BaseModel: guess,
            FileSize: null,
            Hashes: null,
            Tensors: null,
            Ema: null,
            Lora: null,
            Metadata: null,
            Pipeline: new PipelineInfo(className, version, components),
            Warnings: warnings);
    }

    private static (ComponentInfo, BaseModelGuess?) InspectComponent(string root, string name, string? library, string? cls,
        CancellationToken cancellationToken)
    {
        var folder = System.IO.Path.Combine(root, name);
        if (!Directory.Exists(folder))
            return (new ComponentInfo(name, library, cls, name, false, null, null, [], []), null);
        var files = new DirectoryInfo(folder).EnumerateFiles()
            .OrderBy(f => f.Name, StringComparer.Ordinal)
            .Select(f => new FileEntry(f.Name, f.Length))
            .ToList();
        string? configFile = ConfigFiles.FirstOrDefault(c => File.Exists(System.IO.Path.Combine(folder, c)));
        string? configClass = null;
        if (configFile is not null)
        {
            using var doc = ReadJson(System.IO.Path.Combine(folder, configFile));
            if (doc.RootElement.ValueKind == JsonValueKind.Object)
            {
                configClass = StringOrNull(doc.RootElement, "_class_name") ?? StringOrNull(doc.RootElement, "tokenizer_class");
                if (configClass is null && doc.RootElement.TryGetProperty("architectures", out var arch)
                    && arch.ValueKind == JsonValueKind.Array && arch.GetArrayLength() > 0 && arch[0].ValueKind == JsonValueKind.String)
                    configClass = arch[0].GetString();
            }
        }
        var weights = new List<WeightFileInfo>();
        BaseModelGuess? guess = null;
        foreach (var f in files.Where(f => WeightFileName().IsMatch(f.Name)))
        {
            var path = System.IO.Path.Combine(folder, f.Name);
            if (f.Name.EndsWith(".safetensors", StringComparison.Ordinal))
            {
                using var st = SafeTensorsFile.Open(path);
                var hashes = CheckpointHashes.Compute(path, 8 + st.HeaderLength, st.Metadata.GetValueOrDefault("sshs_model_hash"), cancellationToken);
                var analysis = Analyze(st);
                guess ??= analysis.BaseModel;
                weights.Add(new WeightFileInfo(f.Name, "safetensors", f.Size, hashes, analysis.Layout, Stats(st)));
            }
            else
            {
                // A .bin is a pickle: hashed to identify it, never opened.
                weights.Add(new WeightFileInfo(f.Name, "pickle", f.Size, CheckpointHashes.Compute(path, cancellationToken: cancellationToken), null, null));
            }
        }
        return (new ComponentInfo(name, library, cls, name, true, configFile, configClass, files, weights), guess);
    }

    private static JsonDocument ReadJson(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 64, CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new FineXtractException($"{path}: not valid JSON ({e.Message.ReplaceLineEndings(" ")})");
        }
    }

    private static string? StringOrNull(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
