using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace FineXtract.Checkpoints;

/// <summary>
/// What <see cref="CheckpointInspector"/> learned about a checkpoint file or a diffusers folder, ready to be
/// written as JSON with <see cref="CheckpointReport.JsonOptions"/> (camelCase, nulls left out).
/// </summary>
/// <param name="Path">The file or folder inspected, as given.</param>
/// <param name="Format"><c>safetensors</c> or <c>diffusers-folder</c>.</param>
/// <param name="Layout">
/// Key layout: <c>diffusers</c>, <c>ldm</c> (CompVis single file), <c>unet-only</c> (LDM UNet keys without the
/// <c>model.diffusion_model.</c> prefix), <c>kohya-lora</c>, <c>peft-lora</c>, <c>diffusers-lora</c>, <c>lycoris</c>
/// or <c>unknown</c>.
/// </param>
/// <param name="Components">Model parts present: unet, vae, text_encoder, text_encoder_2 (for LoRAs: the parts they patch).</param>
public sealed record CheckpointReport(
    string Path,
    string Format,
    string Layout,
    IReadOnlyList<string> Components,
    BaseModelGuess BaseModel,
    long? FileSize,
    FileHashes? Hashes,
    TensorStats? Tensors,
    EmaInfo? Ema,
    LoraInfo? Lora,
    JsonObject? Metadata,
    PipelineInfo? Pipeline,
    IReadOnlyList<string> Warnings)
{
    public static JsonSerializerOptions JsonOptions => JsonDefaults.Output;

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);
}

/// <summary>
/// Which Stable Diffusion family the weights belong to (<c>sd1</c>, <c>sd2</c>, <c>sdxl</c> or <c>unknown</c>),
/// the cross-attention context width found, and why.
/// </summary>
public sealed record BaseModelGuess(string Family, int? CrossAttentionDim, IReadOnlyList<string> Evidence);

/// <summary>
/// Hashes used to identify model files (hex, lower case; civitai's search is case-insensitive).
/// <list type="bullet">
/// <item><c>Sha256</c>: the whole file (civitai "SHA256", A1111's new hash).</item>
/// <item><c>AutoV2</c>: the first 10 hex digits of <c>Sha256</c> (civitai AutoV2, A1111's short hash).</item>
/// <item><c>AutoV3</c>: SHA-256 of the bytes after the safetensors header (civitai AutoV3, kohya's
/// <c>sshs_model_hash</c>); unlike the others it does not change when only the metadata is edited.</item>
/// <item><c>A1111Legacy</c>: SHA-256 of the 64 KiB at offset 1 MiB, first 8 hex digits (A1111's old model hash,
/// kohya's <c>ss_sd_model_hash</c>; civitai's AutoV1 for files of at least 2 MiB).</item>
/// </list>
/// </summary>
public sealed record FileHashes(string Sha256, string AutoV2, string? AutoV3, string A1111Legacy,
    string? SshsModelHash = null, bool? SshsModelHashMatches = null);

/// <param name="UnreferencedBytes">Bytes of the data section that no tensor covers (the reference writer leaves none).</param>
public sealed record TensorStats(int Count, long Parameters, IReadOnlyDictionary<string, int> Dtypes,
    long HeaderBytes, long DataBytes, long UnreferencedBytes);

/// <summary>EMA weights (<c>model_ema.*</c>, not counting <c>decay</c>/<c>num_updates</c>); present when over 100 keys.</summary>
public sealed record EmaInfo(bool Present, int KeyCount);

/// <param name="Algorithm">lora, loha, lokr or a "+"-joined mix.</param>
/// <param name="ConvModules">Modules on k×k convolutions with k &gt; 1 (LoCon / kohya conv_dim).</param>
/// <param name="Ranks">Rank → number of modules.</param>
/// <param name="Alphas">Stored alpha value → number of modules (none in peft/diffusers files: scale 1).</param>
/// <param name="UnetNaming">kohya module names in diffusers (<c>down_blocks</c>) or LDM (<c>input_blocks</c>, SDXL) style.</param>
public sealed record LoraInfo(string Algorithm, int Modules, int UnetModules, int TextEncoderModules,
    int TextEncoder2Modules, int ConvModules, IReadOnlyDictionary<string, int> Ranks,
    IReadOnlyDictionary<string, int>? Alphas, string? UnetNaming, string? NetworkModule);

/// <summary>A diffusers folder: model_index.json and one entry per component.</summary>
public sealed record PipelineInfo(string? ClassName, string? DiffusersVersion, IReadOnlyList<ComponentInfo> Components);

/// <param name="ConfigClass">The config's <c>_class_name</c> (or transformers' <c>architectures[0]</c>, or <c>tokenizer_class</c>).</param>
/// <param name="Files">Every file directly in the component folder.</param>
/// <param name="Weights">The weight files diffusers/transformers would load, with hashes.</param>
public sealed record ComponentInfo(string Name, string? Library, string? Class, string Folder, bool Exists,
    string? ConfigFile, string? ConfigClass, IReadOnlyList<FileEntry> Files, IReadOnlyList<WeightFileInfo> Weights);

public sealed record FileEntry(string Name, long Size);

/// <param name="Format"><c>safetensors</c>, or <c>pickle</c> for a .bin that is hashed but never opened.</param>
public sealed record WeightFileInfo(string File, string Format, long Size, FileHashes Hashes, string? Layout,
    TensorStats? Tensors);
