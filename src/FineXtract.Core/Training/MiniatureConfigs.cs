using System.Text.Json.Nodes;
using FineXtract.Diffusion.Models;
using FineXtract.Diffusion.Schedulers;

namespace FineXtract.Training;

/// <summary>
/// One model family of the miniature world: Stable Diffusion 1.x structure (AutoencoderKL, CLIP text encoder with
/// the real 49,408-token vocabulary, UNet2DConditionModel with conv projections) at CPU size.
/// </summary>
public sealed record MiniatureFamily(string Name, int Resolution, AutoencoderKLConfig Vae, ClipTextConfig Text, UNet2DConditionConfig Unet)
{
    /// <summary>Latent height = width.</summary>
    public int LatentSize => Resolution / Vae.DownFactor;

    public void Validate()
    {
        if (Resolution % Vae.DownFactor != 0)
            throw new FineXtractException($"{Name}: resolution {Resolution} is not a multiple of the VAE's down factor {Vae.DownFactor}");
        if (Unet.InChannels != Vae.LatentChannels || Unet.OutChannels != Vae.LatentChannels)
            throw new FineXtractException($"{Name}: the UNet has {Unet.InChannels} channels, the VAE {Vae.LatentChannels} latent channels");
        if (Unet.CrossAttentionDim != Text.HiddenSize)
            throw new FineXtractException($"{Name}: cross_attention_dim {Unet.CrossAttentionDim} differs from the text width {Text.HiddenSize}");
        Unet.Validate(Name);
    }
}

/// <summary>
/// The miniature model family and a tiny one for tests. Every choice keeps the files self-describing the way SD1
/// files are: 8 heads per UNet block and 32 norm groups (what <see cref="Checkpoints.ConfigInference"/> assumes for
/// single files without a config) and text heads of width 64 (likewise).
/// </summary>
public static class MiniatureConfigs
{
    /// <summary>
    /// 64×64 RGB images, factor-4 latents (4×16×16). VAE [32,64,64] (0.95 M parameters), text encoder 64 wide with
    /// 4 layers (3.37 M parameters, 3.16 M of them the token embedding), UNet [64,128,128] with one layer per block
    /// (5.84 M parameters). The VAE's scaling factor here is a placeholder; the VAE trainer measures 1/std of the
    /// latents on the data and writes that into vae/config.json.
    /// </summary>
    public static MiniatureFamily Miniature { get; } = new(
        "miniature",
        Resolution: 64,
        Vae: new AutoencoderKLConfig
        {
            BlockOutChannels = [32, 64, 64],
            LayersPerBlock = 1,
            LatentChannels = 4,
            NormNumGroups = 32,
            ScalingFactor = 1.0,
            SampleSize = 64,
        },
        Text: new ClipTextConfig
        {
            HiddenSize = 64,
            IntermediateSize = 256,
            NumHiddenLayers = 4,
            NumAttentionHeads = 1,
        },
        Unet: new UNet2DConditionConfig
        {
            SampleSize = 16,
            BlockOutChannels = [64, 128, 128],
            DownBlockTypes = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
            UpBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
            LayersPerBlock = 1,
            CrossAttentionDim = 64,
            AttentionHeads = [8, 8, 8],
        });

    /// <summary>For unit tests: 16×16 images, factor-2 latents (4×8×8), 32-wide everything, one text layer.</summary>
    public static MiniatureFamily Tiny { get; } = new(
        "tiny",
        Resolution: 16,
        Vae: new AutoencoderKLConfig
        {
            BlockOutChannels = [32, 32],
            LayersPerBlock = 1,
            LatentChannels = 4,
            NormNumGroups = 32,
            ScalingFactor = 1.0,
            SampleSize = 16,
        },
        Text: new ClipTextConfig
        {
            HiddenSize = 32,
            IntermediateSize = 64,
            NumHiddenLayers = 1,
            NumAttentionHeads = 1,
        },
        Unet: new UNet2DConditionConfig
        {
            SampleSize = 8,
            BlockOutChannels = [32, 32],
            DownBlockTypes = ["CrossAttnDownBlock2D", "DownBlock2D"],
            UpBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D"],
            LayersPerBlock = 1,
            CrossAttentionDim = 32,
            AttentionHeads = [8, 8],
        });

    public static MiniatureFamily ByName(string name) => name switch
    {
        "miniature" => Miniature,
        "tiny" => Tiny,
        _ => throw new FineXtractException($"unknown model preset '{name}' (miniature or tiny)"),
    };

    /// <summary>diffusers' UNet2DConditionModel config.json (SD1 field set; heads as SD1's attention_head_dim).</summary>
    public static JsonObject UnetJson(UNet2DConditionConfig c) => new()
    {
        ["_class_name"] = "UNet2DConditionModel",
        ["_diffusers_version"] = "0.30.0",
        ["act_fn"] = "silu",
        ["attention_head_dim"] = c.AttentionHeads.Distinct().Count() == 1 ? JsonValue.Create(c.AttentionHeads[0]) : Array(c.AttentionHeads),
        ["block_out_channels"] = Array(c.BlockOutChannels),
        ["center_input_sample"] = false,
        ["cross_attention_dim"] = c.CrossAttentionDim,
        ["down_block_types"] = Array(c.DownBlockTypes),
        ["downsample_padding"] = c.DownsamplePadding,
        ["flip_sin_to_cos"] = c.FlipSinToCos,
        ["freq_shift"] = c.FreqShift,
        ["in_channels"] = c.InChannels,
        ["layers_per_block"] = c.LayersPerBlock,
        ["mid_block_scale_factor"] = 1,
        ["norm_eps"] = c.NormEps,
        ["norm_num_groups"] = c.NormNumGroups,
        ["out_channels"] = c.OutChannels,
        ["sample_size"] = c.SampleSize,
        ["up_block_types"] = Array(c.UpBlockTypes),
        ["upcast_attention"] = c.UpcastAttention,
        ["use_linear_projection"] = c.UseLinearProjection,
    };

    /// <summary>diffusers' AutoencoderKL config.json.</summary>
    public static JsonObject VaeJson(AutoencoderKLConfig c) => new()
    {
        ["_class_name"] = "AutoencoderKL",
        ["_diffusers_version"] = "0.30.0",
        ["act_fn"] = "silu",
        ["block_out_channels"] = Array(c.BlockOutChannels),
        ["down_block_types"] = Array(Enumerable.Repeat("DownEncoderBlock2D", c.BlockOutChannels.Length)),
        ["in_channels"] = c.InChannels,
        ["latent_channels"] = c.LatentChannels,
        ["layers_per_block"] = c.LayersPerBlock,
        ["norm_num_groups"] = c.NormNumGroups,
        ["out_channels"] = c.OutChannels,
        ["sample_size"] = c.SampleSize,
        ["scaling_factor"] = c.ScalingFactor,
        ["up_block_types"] = Array(Enumerable.Repeat("UpDecoderBlock2D", c.BlockOutChannels.Length)),
    };

    /// <summary>transformers' CLIPTextConfig (SD1's legacy token ids: BOS 0, PAD 1, EOS 2, pooled at argmax).</summary>
    public static JsonObject TextJson(ClipTextConfig c) => new()
    {
        ["architectures"] = Array(["CLIPTextModel"]),
        ["attention_dropout"] = 0.0,
        ["bos_token_id"] = 0,
        ["dropout"] = 0.0,
        ["eos_token_id"] = c.EosTokenId,
        ["hidden_act"] = c.HiddenAct,
        ["hidden_size"] = c.HiddenSize,
        ["initializer_factor"] = 1.0,
        ["initializer_range"] = 0.02,
        ["intermediate_size"] = c.IntermediateSize,
        ["layer_norm_eps"] = c.LayerNormEps,
        ["max_position_embeddings"] = c.MaxPositionEmbeddings,
        ["model_type"] = "clip_text_model",
        ["num_attention_heads"] = c.NumAttentionHeads,
        ["num_hidden_layers"] = c.NumHiddenLayers,
        ["pad_token_id"] = 1,
        ["projection_dim"] = c.HiddenSize,
        ["torch_dtype"] = "float32",
        ["transformers_version"] = "4.44.0",
        ["vocab_size"] = c.VocabSize,
    };

    /// <summary>The SD 1.x scheduler_config.json (PNDM, scaled_linear 0.00085→0.012 over 1000 steps).</summary>
    public static JsonObject SchedulerJson() => new()
    {
        ["_class_name"] = "PNDMScheduler",
        ["_diffusers_version"] = "0.30.0",
        ["beta_end"] = 0.012,
        ["beta_schedule"] = "scaled_linear",
        ["beta_start"] = 0.00085,
        ["clip_sample"] = false,
        ["num_train_timesteps"] = 1000,
        ["prediction_type"] = "epsilon",
        ["set_alpha_to_one"] = false,
        ["skip_prk_steps"] = true,
        ["steps_offset"] = 1,
        ["timestep_spacing"] = "leading",
        ["trained_betas"] = null,
    };

    /// <summary>The scheduler config the trainers noise with (the one <see cref="SchedulerJson"/> writes).</summary>
    public static SchedulerConfig TrainingScheduler => SchedulerConfig.StableDiffusion1;

    /// <summary>A StableDiffusionPipeline model_index.json without safety checker.</summary>
    public static JsonObject ModelIndexJson() => new()
    {
        ["_class_name"] = "StableDiffusionPipeline",
        ["_diffusers_version"] = "0.30.0",
        ["feature_extractor"] = Array([null, null]),
        ["requires_safety_checker"] = false,
        ["safety_checker"] = Array([null, null]),
        ["scheduler"] = Array(["diffusers", "PNDMScheduler"]),
        ["text_encoder"] = Array(["transformers", "CLIPTextModel"]),
        ["tokenizer"] = Array(["transformers", "CLIPTokenizer"]),
        ["unet"] = Array(["diffusers", "UNet2DConditionModel"]),
        ["vae"] = Array(["diffusers", "AutoencoderKL"]),
    };

    private static JsonArray Array(IEnumerable<int> values) => new(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());
    private static JsonArray Array(IEnumerable<string?> values) => new(values.Select(v => v is null ? null : (JsonNode?)JsonValue.Create(v)).ToArray());
}
