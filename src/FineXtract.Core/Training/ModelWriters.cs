using System.Text.Json;
using System.Text.Json.Nodes;
using FineXtract.Checkpoints;
using FineXtract.Diffusion.Models;
using FineXtract.Extraction.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace FineXtract.Training;

/// <summary>
/// Writes trained models the way diffusers and civitai publish them: diffusers component folders
/// (<c>config.json</c> + <c>diffusion_pytorch_model.safetensors</c> / <c>model.safetensors</c>), a whole pipeline
/// folder, or a CompVis/LDM single file. fp16 storage is optional (the loader converts back to fp32).
/// </summary>
public static class ModelWriters
{
    public const string UnetWeights = "diffusion_pytorch_model.safetensors";
    public const string VaeWeights = "diffusion_pytorch_model.safetensors";
    public const string TextEncoderWeights = "model.safetensors";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static void WriteJson(string path, JsonNode node)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, node.ToJsonString(Indented) + "\n");
    }

    public static void WriteUnet(string dir, UNet2DConditionModel unet, bool fp16) =>
        WriteComponent(dir, unet, MiniatureConfigs.UnetJson(unet.Config), UnetWeights, fp16);

    public static void WriteVae(string dir, AutoencoderKL vae, bool fp16) =>
        WriteComponent(dir, vae, MiniatureConfigs.VaeJson(vae.Config), VaeWeights, fp16);

    public static void WriteTextEncoder(string dir, ClipTextModel text, bool fp16) =>
        WriteComponent(dir, text, MiniatureConfigs.TextJson(text.Config), TextEncoderWeights, fp16);

    /// <summary>config.json and the weights (state-dict names unchanged) in <paramref name="dir"/>.</summary>
    public static void WriteComponent(string dir, nn.Module module, JsonObject config, string weightsName, bool fp16)
    {
        Directory.CreateDirectory(dir);
        WriteJson(Path.Combine(dir, "config.json"), config);
        using var scope = NewDisposeScope();
        SafeTensorsWriter.Write(Path.Combine(dir, weightsName), Stored(module.state_dict(), fp16));
    }

    /// <summary>
    /// The pipeline parts that do not come from training: model_index.json, scheduler/ (SD1 PNDM) and tokenizer/
    /// (a copy of the bundled CLIP BPE tokenizer).
    /// </summary>
    public static void WritePipelineScaffold(string dir)
    {
        Directory.CreateDirectory(dir);
        WriteJson(Path.Combine(dir, "model_index.json"), MiniatureConfigs.ModelIndexJson());
        WriteJson(Path.Combine(dir, "scheduler", "scheduler_config.json"), MiniatureConfigs.SchedulerJson());
        var tokenizer = Path.Combine(dir, "tokenizer");
        Directory.CreateDirectory(tokenizer);
        var bundled = ExtractionModels.BundledTokenizerPath;
        if (!Directory.Exists(bundled)) throw new FineXtractException($"{bundled}: bundled tokenizer not found (broken installation)");
        foreach (var file in Directory.EnumerateFiles(bundled))
            File.Copy(file, Path.Combine(tokenizer, Path.GetFileName(file)), overwrite: true);
    }

    /// <summary>
    /// A CompVis/LDM single file as civitai ships full checkpoints: <c>model.diffusion_model.*</c> (UNet),
    /// <c>first_stage_model.*</c> (VAE, attention projections as 1×1 convolutions) and
    /// <c>cond_stage_model.transformer.*</c> (text encoder), names from <see cref="LdmKeyMap"/>.
    /// </summary>
    public static void WriteSingleFile(string path, UNet2DConditionModel unet, AutoencoderKL? vae, ClipTextModel? text, bool fp16,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var scope = NewDisposeScope();
        var tensors = new List<KeyValuePair<string, Tensor>>();
        var c = unet.Config;
        foreach (var (k, t) in unet.state_dict())
            tensors.Add(KeyValuePair.Create(LdmKeyMap.UNetPrefix + LdmKeyMap.UNet(k, c.LayersPerBlock, i => c.UpBlockTypes[i] == "CrossAttnUpBlock2D"), t));
        if (vae is not null)
        {
            int levels = vae.Config.BlockOutChannels.Length;
            foreach (var (k, t) in vae.state_dict())
            {
                bool conv = k.Contains(".mid_block.attentions.") && k.EndsWith(".weight") && t.dim() == 2;
                tensors.Add(KeyValuePair.Create(LdmKeyMap.VaePrefix + LdmKeyMap.Vae(k, levels), conv ? t.unsqueeze(-1).unsqueeze(-1) : t));
            }
        }
        if (text is not null)
            foreach (var (k, t) in text.state_dict())
                tensors.Add(KeyValuePair.Create(LdmKeyMap.ClipPrefix + k, t));
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        SafeTensorsWriter.Write(path, Stored(tensors, fp16), metadata);
    }

    /// <summary>Tensors as stored: detached, float tensors in fp16 when asked (copies live in the caller's scope).</summary>
    public static IEnumerable<KeyValuePair<string, Tensor>> Stored(IEnumerable<KeyValuePair<string, Tensor>> tensors, bool fp16) =>
        tensors.Select(kv => KeyValuePair.Create(kv.Key,
            fp16 && kv.Value.is_floating_point() ? kv.Value.detach().to_type(ScalarType.Float16) : kv.Value.detach()));

    /// <summary>Bytes of a folder's files, for size reports.</summary>
    public static long SizeOnDisk(string path) =>
        File.Exists(path) ? new FileInfo(path).Length
        : Directory.Exists(path) ? Directory.EnumerateFiles(path, "*.safetensors", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length)
        : 0;
}
