using FineXtract.Diffusion.Models;

namespace FineXtract.Checkpoints;

/// <summary>
/// Derives model configs from tensor shapes for single-file (LDM) checkpoints that come without a config.json,
/// as civitai files do. Head counts are not visible in shapes: SD1-style (conv projection) models get 8 heads,
/// SD2-style (linear projection) models 64-wide heads, which is what every released SD 1.x/2.x model uses.
/// </summary>
public static class ConfigInference
{
    public static UNet2DConditionConfig UNet(SafeTensorsFile f, string prefix)
    {
        long[] Shape(string k) => f.Tensors.TryGetValue(prefix + k, out var t) ? t.Shape
            : throw new CheckpointFormatException($"{f.Path}: cannot infer the UNet config: '{prefix + k}' is missing (pass --config)");
        bool Has(string k) => f.Tensors.ContainsKey(prefix + k);

        int c0 = (int)Shape("time_embed.0.weight")[1];
        int firstDown = Enumerable.Range(1, 16).FirstOrDefault(i => Has($"input_blocks.{i}.0.op.weight"));
        if (firstDown == 0) throw new CheckpointFormatException($"{f.Path}: cannot infer the UNet config: no downsampler found (pass --config)");
        int layers = firstDown - 1, per = layers + 1;
        int levels = Enumerable.Range(0, 16).Count(i => Has($"input_blocks.{per * i + 1}.0.in_layers.0.weight"));
        var channels = Enumerable.Range(0, levels).Select(i => (int)Shape($"input_blocks.{per * i + 1}.0.out_layers.3.weight")[0]).ToArray();
        var downAttn = Enumerable.Range(0, levels).Select(i => Has($"input_blocks.{per * i + 1}.1.proj_in.weight")).ToArray();
        var upAttn = Enumerable.Range(0, levels).Select(i => Has($"output_blocks.{per * i}.1.proj_in.weight")).ToArray();
        string anyAttn = f.Tensors.Keys.First(k => k.StartsWith(prefix) && k.EndsWith("attn2.to_k.weight"));
        string anyProj = f.Tensors.Keys.First(k => k.StartsWith(prefix) && k.EndsWith(".proj_in.weight"));
        bool linear = f.Tensors[anyProj].Shape.Length == 2;
        return new UNet2DConditionConfig
        {
            InChannels = (int)Shape("input_blocks.0.0.weight")[1],
            OutChannels = (int)Shape("out.2.weight")[0],
            BlockOutChannels = channels,
            DownBlockTypes = downAttn.Select(a => a ? "CrossAttnDownBlock2D" : "DownBlock2D").ToArray(),
            UpBlockTypes = upAttn.Select(a => a ? "CrossAttnUpBlock2D" : "UpBlock2D").ToArray(),
            LayersPerBlock = layers,
            CrossAttentionDim = (int)f.Tensors[anyAttn].Shape[1],
            AttentionHeads = channels.Select(c => linear ? Math.Max(1, c / 64) : 8).ToArray(),
            UseLinearProjection = linear,
        };
    }

    public static AutoencoderKLConfig Vae(SafeTensorsFile f, string prefix)
    {
        long[] Shape(string k) => f.Tensors.TryGetValue(prefix + k, out var t) ? t.Shape
            : throw new CheckpointFormatException($"{f.Path}: cannot infer the VAE config: '{prefix + k}' is missing (pass --config)");
        int levels = Enumerable.Range(0, 16).Count(i => f.Tensors.ContainsKey($"{prefix}encoder.down.{i}.block.0.conv1.weight"));
        int layers = Enumerable.Range(0, 16).Count(j => f.Tensors.ContainsKey($"{prefix}encoder.down.0.block.{j}.conv1.weight"));
        return new AutoencoderKLConfig
        {
            InChannels = (int)Shape("encoder.conv_in.weight")[1],
            OutChannels = (int)Shape("decoder.conv_out.weight")[0],
            LatentChannels = (int)Shape("post_quant_conv.weight")[0],
            BlockOutChannels = Enumerable.Range(0, levels).Select(i => (int)Shape($"encoder.down.{i}.block.0.conv1.weight")[0]).ToArray(),
            LayersPerBlock = layers,
        };
    }

    /// <summary>SD1 text encoder in transformers layout under <paramref name="prefix"/> (CLIP ViT-L/14: 64-wide heads).</summary>
    public static ClipTextConfig Clip(SafeTensorsFile f, string prefix, bool openClip)
    {
        string Tok(string hf, string oc) => prefix + (openClip ? oc : hf);
        long[] Shape(string k) => f.Tensors.TryGetValue(k, out var t) ? t.Shape
            : throw new CheckpointFormatException($"{f.Path}: cannot infer the text encoder config: '{k}' is missing (pass --config)");
        var tok = Shape(Tok("text_model.embeddings.token_embedding.weight", "token_embedding.weight"));
        int hidden = (int)tok[1];
        string layerPattern = openClip ? "transformer.resblocks." : "text_model.encoder.layers.";
        int layers = f.Tensors.Keys.Where(k => k.StartsWith(prefix + layerPattern))
            .Select(k => int.Parse(k[(prefix + layerPattern).Length..].Split('.')[0])).Distinct().Count();
        int intermediate = (int)Shape(Tok("text_model.encoder.layers.0.mlp.fc1.weight", "transformer.resblocks.0.mlp.c_fc.weight"))[0];
        return new ClipTextConfig
        {
            VocabSize = (int)tok[0],
            HiddenSize = hidden,
            IntermediateSize = intermediate,
            // SD2 uses the penultimate OpenCLIP block: diffusers stores 23 of 24 layers.
            NumHiddenLayers = openClip ? layers - 1 : layers,
            NumAttentionHeads = Math.Max(1, hidden / 64),
            MaxPositionEmbeddings = (int)Shape(Tok("text_model.embeddings.position_embedding.weight", "positional_embedding"))[0],
            HiddenAct = openClip ? "gelu" : "quick_gelu",
            EosTokenId = 2,
        };
    }
}
