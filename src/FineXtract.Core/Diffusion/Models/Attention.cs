using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FineXtract.Diffusion.Models;

/// <summary>
/// diffusers' <c>Attention</c>: multi-head attention with <c>to_q/to_k/to_v</c> and <c>to_out.0</c>, computed with
/// scaled_dot_product_attention (default scale head_dim^-½, as SD expects). Optional GroupNorm and residual
/// for the VAE's mid-block form.
/// </summary>
public sealed class Attention : nn.Module<Tensor, Tensor?, Tensor>
{
    private readonly Linear to_q;
    private readonly Linear to_k;
    private readonly Linear to_v;
    private readonly ModuleList<nn.Module> to_out;
    private readonly GroupNorm? group_norm;
    private readonly int _heads;

    public Attention(long queryDim, long? crossAttentionDim, int heads, long headDim, bool qkvBias = false,
        int? normGroups = null, double normEps = 1e-6) : base(nameof(Attention))
    {
        long inner = heads * headDim;
        _heads = heads;
        to_q = nn.Linear(queryDim, inner, hasBias: qkvBias);
        to_k = nn.Linear(crossAttentionDim ?? queryDim, inner, hasBias: qkvBias);
        to_v = nn.Linear(crossAttentionDim ?? queryDim, inner, hasBias: qkvBias);
        to_out = nn.ModuleList<nn.Module>(nn.Linear(inner, queryDim, hasBias: true), nn.Dropout(0.0));
        if (normGroups is { } g) group_norm = nn.GroupNorm(g, queryDim, normEps);
        RegisterComponents();
    }

    /// <summary>Token form: x [B, N, C], context [B, M, Cctx] or null for self-attention.</summary>
    public override Tensor forward(Tensor x, Tensor? context)
    {
        using var scope = NewDisposeScope();
        var ctx = context ?? x;
        // call (not forward) runs forward hooks: the LoRA trainer attaches its adapters that way.
        var q = SplitHeads(to_q.call(x));
        var k = SplitHeads(to_k.call(ctx));
        var v = SplitHeads(to_v.call(ctx));
        var o = F.scaled_dot_product_attention(q, k, v);
        o = o.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1);
        return ((Linear)to_out[0]).call(o).MoveToOuterDisposeScope();
    }

    /// <summary>Spatial form used by the VAE mid block: GroupNorm, attention over H·W, residual.</summary>
    public Tensor ForwardSpatial(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var t = (group_norm is null ? x : group_norm.forward(x)).view(b, c, h * w).transpose(1, 2);
        var o = forward(t, null).transpose(1, 2).reshape(b, c, h, w);
        return (o + x).MoveToOuterDisposeScope();
    }

    private Tensor SplitHeads(Tensor t) => t.view(t.shape[0], t.shape[1], _heads, -1).transpose(1, 2);
}

/// <summary>diffusers' GEGLU feed-forward: <c>net.0.proj</c> (C → 2·4C), h·gelu(g), <c>net.2</c> (4C → C).</summary>
public sealed class FeedForward : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<nn.Module> net;

    public FeedForward(long dim, int mult = 4) : base(nameof(FeedForward))
    {
        net = nn.ModuleList<nn.Module>(new GeGlu(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var h = ((GeGlu)net[0]).forward(x);
        return ((Linear)net[2]).call(h);
    }

    private sealed class GeGlu : nn.Module<Tensor, Tensor>
    {
        private readonly Linear proj;

        public GeGlu(long dimIn, long dimOut) : base(nameof(GeGlu))
        {
            proj = nn.Linear(dimIn, dimOut * 2);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            var parts = proj.call(x).chunk(2, -1);
            return (parts[0] * F.gelu(parts[1])).MoveToOuterDisposeScope();
        }
    }
}

/// <summary>diffusers' <c>BasicTransformerBlock</c>: self-attention, cross-attention, GEGLU, each pre-LayerNorm with residual.</summary>
public sealed class BasicTransformerBlock : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly LayerNorm norm1;
    private readonly Attention attn1;
    private readonly LayerNorm norm2;
    private readonly Attention attn2;
    private readonly LayerNorm norm3;
    private readonly FeedForward ff;

    public BasicTransformerBlock(long dim, int heads, long headDim, long crossAttentionDim) : base(nameof(BasicTransformerBlock))
    {
        norm1 = nn.LayerNorm(dim, 1e-5);
        attn1 = new Attention(dim, null, heads, headDim);
        norm2 = nn.LayerNorm(dim, 1e-5);
        attn2 = new Attention(dim, crossAttentionDim, heads, headDim);
        norm3 = nn.LayerNorm(dim, 1e-5);
        ff = new FeedForward(dim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor context)
    {
        using var scope = NewDisposeScope();
        x = attn1.forward(norm1.forward(x), null) + x;
        x = attn2.forward(norm2.forward(x), context) + x;
        x = ff.forward(norm3.forward(x)) + x;
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// diffusers' <c>Transformer2DModel</c> (one block, as in SD 1.x/2.x): GroupNorm, projection in (1×1 conv for
/// SD1, Linear for SD2), transformer blocks over H·W tokens, projection out, residual.
/// </summary>
public sealed class Transformer2DModel : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly GroupNorm norm;
    private readonly nn.Module<Tensor, Tensor> proj_in;
    private readonly ModuleList<BasicTransformerBlock> transformer_blocks;
    private readonly nn.Module<Tensor, Tensor> proj_out;
    private readonly bool _linearProjection;

    public Transformer2DModel(long channels, int heads, long crossAttentionDim, int normGroups, bool linearProjection,
        int layers = 1) : base(nameof(Transformer2DModel))
    {
        long headDim = channels / heads;
        _linearProjection = linearProjection;
        norm = nn.GroupNorm(normGroups, channels, 1e-6);
        proj_in = linearProjection ? nn.Linear(channels, channels) : nn.Conv2d(channels, channels, 1);
        transformer_blocks = nn.ModuleList(Enumerable.Range(0, layers)
            .Select(_ => new BasicTransformerBlock(channels, heads, headDim, crossAttentionDim)).ToArray());
        proj_out = linearProjection ? nn.Linear(channels, channels) : nn.Conv2d(channels, channels, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor context)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var t = norm.forward(x);
        if (_linearProjection)
        {
            t = proj_in.call(t.permute(0, 2, 3, 1).reshape(b, h * w, c));
        }
        else
        {
            t = proj_in.call(t).permute(0, 2, 3, 1).reshape(b, h * w, c);
        }
        foreach (var block in transformer_blocks) t = block.forward(t, context);
        t = _linearProjection
            ? proj_out.call(t).reshape(b, h, w, c).permute(0, 3, 1, 2)
            : proj_out.call(t.reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous());
        return (t + x).MoveToOuterDisposeScope();
    }
}
