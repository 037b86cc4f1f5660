using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FineXtract.Diffusion.Models;

/// <summary>The fields of diffusers' AutoencoderKL config.json that SD uses.</summary>
public sealed record AutoencoderKLConfig
{
    public int InChannels { get; init; } = 3;
    public int OutChannels { get; init; } = 3;
    public int LatentChannels { get; init; } = 4;
    public int[] BlockOutChannels { get; init; } = [128, 256, 512, 512];
    public int LayersPerBlock { get; init; } = 2;
    public int NormNumGroups { get; init; } = 32;
    public double ScalingFactor { get; init; } = 0.18215;
    public int SampleSize { get; init; } = 512;

    /// <summary>Pixels per latent along each side.</summary>
    public int DownFactor => 1 << (BlockOutChannels.Length - 1);

    public static AutoencoderKLConfig FromJson(ConfigJson c)
    {
        var d = new AutoencoderKLConfig();
        var cfg = d with
        {
            InChannels = c.Int("in_channels", d.InChannels),
            OutChannels = c.Int("out_channels", d.OutChannels),
            LatentChannels = c.Int("latent_channels", d.LatentChannels),
            BlockOutChannels = c.Ints("block_out_channels", d.BlockOutChannels),
            LayersPerBlock = c.Int("layers_per_block", d.LayersPerBlock),
            NormNumGroups = c.Int("norm_num_groups", d.NormNumGroups),
            ScalingFactor = c.Double("scaling_factor", d.ScalingFactor),
            SampleSize = c.Int("sample_size", d.SampleSize),
        };
        foreach (var t in c.Strings("down_block_types", []).Concat(c.Strings("up_block_types", [])))
            if (t is not ("DownEncoderBlock2D" or "UpDecoderBlock2D"))
                throw new FineXtractException($"{c.Source}: VAE block type '{t}' is not supported");
        if (!c.Bool("use_quant_conv", true) || !c.Bool("use_post_quant_conv", true))
            throw new FineXtractException($"{c.Source}: VAEs without quant_conv/post_quant_conv are not supported");
        return cfg;
    }
}

/// <summary>
/// diffusers' <c>AutoencoderKL</c>: <see cref="Encode"/> gives the latent distribution's mean and log-variance
/// (clamped to [−30, 20]); <see cref="Decode"/> maps (unscaled) latents back to images in [−1, 1].
/// </summary>
public sealed class AutoencoderKL : nn.Module
{
    private readonly VaeEncoder encoder;
    private readonly VaeDecoder decoder;
    private readonly Conv2d quant_conv;
    private readonly Conv2d post_quant_conv;

    public AutoencoderKLConfig Config { get; }

    public AutoencoderKL(AutoencoderKLConfig config) : base(nameof(AutoencoderKL))
    {
        Config = config;
        encoder = new VaeEncoder(config);
        decoder = new VaeDecoder(config);
        quant_conv = nn.Conv2d(2 * config.LatentChannels, 2 * config.LatentChannels, 1);
        post_quant_conv = nn.Conv2d(config.LatentChannels, config.LatentChannels, 1);
        RegisterComponents();
    }

    public (Tensor Mean, Tensor LogVar) Encode(Tensor image)
    {
        using var scope = NewDisposeScope();
        var moments = quant_conv.forward(encoder.forward(image));
        var parts = moments.chunk(2, 1);
        var mean = parts[0].contiguous();
        var logvar = parts[1].clamp(-30.0, 20.0);
        return (mean.MoveToOuterDisposeScope(), logvar.MoveToOuterDisposeScope());
    }

    /// <summary>Decodes latents that are NOT multiplied by the scaling factor.</summary>
    public Tensor Decode(Tensor latent)
    {
        using var scope = NewDisposeScope();
        return decoder.forward(post_quant_conv.forward(latent)).MoveToOuterDisposeScope();
    }
}

/// <summary>UNetMidBlock2D of the VAE: resnet, single-head spatial self-attention, resnet.</summary>
public sealed class VaeMidBlock : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<Attention> attentions;
    private readonly ModuleList<ResnetBlock2D> resnets;

    public VaeMidBlock(long channels, int groups) : base(nameof(VaeMidBlock))
    {
        attentions = nn.ModuleList(new Attention(channels, null, heads: 1, headDim: channels, qkvBias: true, normGroups: groups, normEps: 1e-6));
        resnets = nn.ModuleList(new ResnetBlock2D(channels, channels, null, groups, 1e-6),
            new ResnetBlock2D(channels, channels, null, groups, 1e-6));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = resnets[0].forward(x, null);
        h = attentions[0].ForwardSpatial(h);
        return resnets[1].forward(h, null).MoveToOuterDisposeScope();
    }
}

/// <summary>DownEncoderBlock2D / UpDecoderBlock2D: resnets without time embedding, then an optional resampler.</summary>
public sealed class VaeBlock : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Downsample2D>? downsamplers;
    private readonly ModuleList<Upsample2D>? upsamplers;

    public VaeBlock(long inChannels, long outChannels, int layers, int groups, bool down, bool addResample) : base(nameof(VaeBlock))
    {
        resnets = nn.ModuleList(Enumerable.Range(0, layers)
            .Select(j => new ResnetBlock2D(j == 0 ? inChannels : outChannels, outChannels, null, groups, 1e-6)).ToArray());
        if (addResample && down) downsamplers = nn.ModuleList(new Downsample2D(outChannels, padding: 0));
        if (addResample && !down) upsamplers = nn.ModuleList(new Upsample2D(outChannels));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        foreach (var r in resnets) x = r.forward(x, null);
        if (downsamplers is not null) x = downsamplers[0].forward(x);
        if (upsamplers is not null) x = upsamplers[0].forward(x, null);
        return x.MoveToOuterDisposeScope();
    }
}

public sealed class VaeEncoder : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv_in;
    private readonly ModuleList<VaeBlock> down_blocks;
    private readonly VaeMidBlock mid_block;
    private readonly GroupNorm conv_norm_out;
    private readonly Conv2d conv_out;

    public VaeEncoder(AutoencoderKLConfig c) : base(nameof(VaeEncoder))
    {
        var ch = c.BlockOutChannels;
        conv_in = nn.Conv2d(c.InChannels, ch[0], 3, padding: 1);
        down_blocks = nn.ModuleList(Enumerable.Range(0, ch.Length).Select(i =>
            new VaeBlock(i == 0 ? ch[0] : ch[i - 1], ch[i], c.LayersPerBlock, c.NormNumGroups, down: true, addResample: i < ch.Length - 1)).ToArray());
        mid_block = new VaeMidBlock(ch[^1], c.NormNumGroups);
        conv_norm_out = nn.GroupNorm(c.NormNumGroups, ch[^1], 1e-6);
        conv_out = nn.Conv2d(ch[^1], 2 * c.LatentChannels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.forward(x);
        foreach (var b in down_blocks) h = b.forward(h);
        h = mid_block.forward(h);
        return conv_out.forward(F.silu(conv_norm_out.forward(h))).MoveToOuterDisposeScope();
    }
}

public sealed class VaeDecoder : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv_in;
    private readonly VaeMidBlock mid_block;
    private readonly ModuleList<VaeBlock> up_blocks;
    private readonly GroupNorm conv_norm_out;
    private readonly Conv2d conv_out;

    public VaeDecoder(AutoencoderKLConfig c) : base(nameof(VaeDecoder))
    {
        var rev = c.BlockOutChannels.Reverse().ToArray();
        conv_in = nn.Conv2d(c.LatentChannels, rev[0], 3, padding: 1);
        mid_block = new VaeMidBlock(rev[0], c.NormNumGroups);
        up_blocks = nn.ModuleList(Enumerable.Range(0, rev.Length).Select(i =>
            new VaeBlock(i == 0 ? rev[0] : rev[i - 1], rev[i], c.LayersPerBlock + 1, c.NormNumGroups, down: false, addResample: i < rev.Length - 1)).ToArray());
        conv_norm_out = nn.GroupNorm(c.NormNumGroups, rev[^1], 1e-6);
        conv_out = nn.Conv2d(rev[^1], c.OutChannels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor z)
    {
        using var scope = NewDisposeScope();
        var h = conv_in.forward(z);
        h = mid_block.forward(h);
        foreach (var b in up_blocks) h = b.forward(h);
        return conv_out.forward(F.silu(conv_norm_out.forward(h))).MoveToOuterDisposeScope();
    }
}
