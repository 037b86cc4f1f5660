using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FineXtract.Diffusion.Models;

/// <summary>
/// diffusers' <c>ResnetBlock2D</c>: GN→SiLU→conv1 (+ projected time embedding) → GN→SiLU→conv2, plus a 1×1
/// <c>conv_shortcut</c> when the channel count changes. The VAE's blocks have no time embedding.
/// </summary>
public sealed class ResnetBlock2D : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly GroupNorm norm1;
    private readonly Conv2d conv1;
    private readonly Linear? time_emb_proj;
    private readonly GroupNorm norm2;
    private readonly Conv2d conv2;
    private readonly Conv2d? conv_shortcut;

    public ResnetBlock2D(long inChannels, long outChannels, long? timeEmbeddingChannels, int groups, double eps)
        : base(nameof(ResnetBlock2D))
    {
        norm1 = nn.GroupNorm(groups, inChannels, eps);
        conv1 = nn.Conv2d(inChannels, outChannels, 3, padding: 1);
        if (timeEmbeddingChannels is { } t) time_emb_proj = nn.Linear(t, outChannels);
        norm2 = nn.GroupNorm(groups, outChannels, eps);
        conv2 = nn.Conv2d(outChannels, outChannels, 3, padding: 1);
        if (inChannels != outChannels) conv_shortcut = nn.Conv2d(inChannels, outChannels, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor? timeEmbedding)
    {
        using var scope = NewDisposeScope();
        // call (not forward) so that LoRA adapters attached as forward hooks run (training).
        var h = conv1.call(F.silu(norm1.forward(x)));
        if (time_emb_proj is not null && timeEmbedding is not null)
            h = h + time_emb_proj.forward(F.silu(timeEmbedding)).unsqueeze(-1).unsqueeze(-1);
        h = conv2.call(F.silu(norm2.forward(h)));
        var skip = conv_shortcut is null ? x : conv_shortcut.forward(x);
        return (skip + h).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers' <c>Downsample2D</c>: a stride-2 3×3 <c>conv</c>. The VAE encoder uses padding 0 after an
/// asymmetric (0,1,0,1) pad; the UNet uses padding 1.
/// </summary>
public sealed class Downsample2D : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv;
    private readonly bool _asymmetricPad;

    public Downsample2D(long channels, int padding) : base(nameof(Downsample2D))
    {
        conv = nn.Conv2d(channels, channels, 3, stride: 2, padding: padding);
        _asymmetricPad = padding == 0;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        if (!_asymmetricPad) return conv.forward(x);
        using var padded = F.pad(x, [0, 1, 0, 1]);
        return conv.forward(padded);
    }
}

/// <summary>
/// diffusers' <c>Upsample2D</c>: nearest ×2 (or to the skip connection's size when H or W is not a multiple of
/// the total down factor), then a 3×3 <c>conv</c>.
/// </summary>
public sealed class Upsample2D : nn.Module<Tensor, long[]?, Tensor>
{
    private readonly Conv2d conv;

    public Upsample2D(long channels) : base(nameof(Upsample2D))
    {
        conv = nn.Conv2d(channels, channels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, long[]? outputSize)
    {
        using var up = outputSize is null
            ? F.interpolate(x, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest)
            : F.interpolate(x, size: outputSize, mode: InterpolationMode.Nearest);
        return conv.forward(up);
    }
}
