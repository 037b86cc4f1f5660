using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FineXtract.Diffusion.Models;

/// <summary>The fields of diffusers' UNet2DConditionModel config.json that SD 1.x/2.x use.</summary>
public sealed record UNet2DConditionConfig
{
    public int InChannels { get; init; } = 4;
    public int OutChannels { get; init; } = 4;
    public int SampleSize { get; init; } = 64;
    public int[] BlockOutChannels { get; init; } = [320, 640, 1280, 1280];
    public string[] DownBlockTypes { get; init; } =
        ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"];
    public string[] UpBlockTypes { get; init; } =
        ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"];
    public int LayersPerBlock { get; init; } = 2;
    public int CrossAttentionDim { get; init; } = 768;
    /// <summary>Heads per block. diffusers' SD1 configs call this attention_head_dim (diffusers #2011).</summary>
    public int[] AttentionHeads { get; init; } = [8, 8, 8, 8];
    public int NormNumGroups { get; init; } = 32;
    public double NormEps { get; init; } = 1e-5;
    public bool UseLinearProjection { get; init; }
    public bool FlipSinToCos { get; init; } = true;
    public int FreqShift { get; init; }
    public bool UpcastAttention { get; init; }
    public int DownsamplePadding { get; init; } = 1;

    public int TimeEmbeddingDim => BlockOutChannels[0] * 4;

    public static UNet2DConditionConfig FromJson(ConfigJson c)
    {
        var d = new UNet2DConditionConfig();
        var blocks = c.Ints("block_out_channels", d.BlockOutChannels);
        var cfg = d with
        {
            InChannels = c.Int("in_channels", d.InChannels),
            OutChannels = c.Int("out_channels", d.OutChannels),
            SampleSize = c.Int("sample_size", d.SampleSize),
            BlockOutChannels = blocks,
            DownBlockTypes = c.Strings("down_block_types", d.DownBlockTypes),
            UpBlockTypes = c.Strings("up_block_types", d.UpBlockTypes),
            LayersPerBlock = c.Int("layers_per_block", d.LayersPerBlock),
            CrossAttentionDim = c.Int("cross_attention_dim", d.CrossAttentionDim),
            AttentionHeads = c.PerBlock("num_attention_heads", blocks.Length)
                ?? c.PerBlock("attention_head_dim", blocks.Length) ?? Enumerable.Repeat(8, blocks.Length).ToArray(),
            NormNumGroups = c.Int("norm_num_groups", d.NormNumGroups),
            NormEps = c.Double("norm_eps", d.NormEps),
            UseLinearProjection = c.Bool("use_linear_projection", false),
            FlipSinToCos = c.Bool("flip_sin_to_cos", true),
            FreqShift = c.Int("freq_shift", 0),
            UpcastAttention = c.Bool("upcast_attention", false),
            DownsamplePadding = c.Int("downsample_padding", 1),
        };
        cfg.Validate(c.Source);
        return cfg;
    }

    public void Validate(string source)
    {
        int n = BlockOutChannels.Length;
        if (n == 0 || DownBlockTypes.Length != n || UpBlockTypes.Length != n || AttentionHeads.Length != n)
            throw new FineXtractException($"{source}: block_out_channels, down/up_block_types and attention heads must have the same length");
        foreach (var t in DownBlockTypes)
            if (t is not ("CrossAttnDownBlock2D" or "DownBlock2D"))
                throw new FineXtractException($"{source}: down block type '{t}' is not supported (SD 1.x/2.x use CrossAttnDownBlock2D and DownBlock2D)");
        foreach (var t in UpBlockTypes)
            if (t is not ("CrossAttnUpBlock2D" or "UpBlock2D"))
                throw new FineXtractException($"{source}: up block type '{t}' is not supported (SD 1.x/2.x use CrossAttnUpBlock2D and UpBlock2D)");
        for (int i = 0; i < n; i++)
            if (BlockOutChannels[i] % AttentionHeads[i] != 0 || BlockOutChannels[i] % NormNumGroups != 0)
                throw new FineXtractException($"{source}: block {i} width {BlockOutChannels[i]} is not divisible by its heads/groups");
    }
}

/// <summary>
/// diffusers' <c>UNet2DConditionModel</c> for Stable Diffusion 1.x/2.x, built from its config.json with
/// diffusers' module names so that state-dict keys match checkpoints one to one.
/// </summary>
public sealed class UNet2DConditionModel : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly TimestepEmbedding time_embedding;
    private readonly Conv2d conv_in;
    private readonly ModuleList<UNetDownBlock> down_blocks;
    private readonly UNetMidBlock mid_block;
    private readonly ModuleList<UNetUpBlock> up_blocks;
    private readonly GroupNorm conv_norm_out;
    private readonly Conv2d conv_out;

    public UNet2DConditionConfig Config { get; }

    public UNet2DConditionModel(UNet2DConditionConfig config) : base(nameof(UNet2DConditionModel))
    {
        Config = config;
        var ch = config.BlockOutChannels;
        int n = ch.Length, groups = config.NormNumGroups;
        double eps = config.NormEps;
        long temb = config.TimeEmbeddingDim;

        time_embedding = new TimestepEmbedding(ch[0], temb);
        conv_in = nn.Conv2d(config.InChannels, ch[0], 3, padding: 1);

        var downs = new List<UNetDownBlock>();
        long output = ch[0];
        for (int i = 0; i < n; i++)
        {
            long input = output;
            output = ch[i];
            downs.Add(new UNetDownBlock(input, output, temb, config.LayersPerBlock, groups, eps,
                config.DownBlockTypes[i] == "CrossAttnDownBlock2D", config.AttentionHeads[i], config.CrossAttentionDim,
                config.UseLinearProjection, addDownsample: i < n - 1, config.DownsamplePadding));
        }
        down_blocks = nn.ModuleList(downs.ToArray());

        mid_block = new UNetMidBlock(ch[^1], temb, groups, eps, config.AttentionHeads[^1], config.CrossAttentionDim,
            config.UseLinearProjection);

        var ups = new List<UNetUpBlock>();
        var reversed = ch.Reverse().ToArray();
        var reversedHeads = config.AttentionHeads.Reverse().ToArray();
        long prevOutput = reversed[0];
        for (int i = 0; i < n; i++)
        {
            long outCh = reversed[i], inCh = reversed[Math.Min(i + 1, n - 1)];
            ups.Add(new UNetUpBlock(inCh, outCh, prevOutput, temb, config.LayersPerBlock + 1, groups, eps,
                config.UpBlockTypes[i] == "CrossAttnUpBlock2D", reversedHeads[i], config.CrossAttentionDim,
                config.UseLinearProjection, addUpsample: i < n - 1));
            prevOutput = outCh;
        }
        up_blocks = nn.ModuleList(ups.ToArray());

        conv_norm_out = nn.GroupNorm(groups, ch[0], eps);
        conv_out = nn.Conv2d(ch[0], config.OutChannels, 3, padding: 1);
        RegisterComponents();
    }

    /// <summary>
    /// Predicts noise (or v) for latents <paramref name="sample"/> [B,4,h,w] at <paramref name="timestep"/>
    /// (0-d or [B], integer or float) given text states <paramref name="context"/> [B,77,D].
    /// </summary>
    public override Tensor forward(Tensor sample, Tensor timestep, Tensor context)
    {
        using var scope = NewDisposeScope();
        long batch = sample.shape[0];
        var t = timestep.dim() == 0 ? timestep.expand(batch) : timestep;
        var emb = time_embedding.forward(TimestepEmbedding.Sinusoidal(t, Config.BlockOutChannels[0], Config.FlipSinToCos, Config.FreqShift));

        // Nearest ×2 upsampling only restores sizes that are multiples of 2^levels; otherwise use the skip's size.
        int factor = 1 << (Config.BlockOutChannels.Length - 1);
        bool forwardUpsampleSize = sample.shape[^1] % factor != 0 || sample.shape[^2] % factor != 0;

        var h = conv_in.forward(sample);
        var skips = new List<Tensor> { h };
        foreach (var down in down_blocks)
        {
            h = down.Forward(h, emb, context, skips);
        }
        h = mid_block.Forward(h, emb, context);
        foreach (var up in up_blocks)
        {
            var mine = skips.GetRange(skips.Count - up.ResnetCount, up.ResnetCount);
            skips.RemoveRange(skips.Count - up.ResnetCount, up.ResnetCount);
            long[]? upsampleSize = forwardUpsampleSize && skips.Count > 0 ? skips[^1].shape[2..] : null;
            h = up.Forward(h, mine, emb, context, upsampleSize);
        }
        h = conv_out.forward(F.silu(conv_norm_out.forward(h)));
        return h.MoveToOuterDisposeScope();
    }
}

/// <summary>Sinusoidal projection of the timestep followed by <c>linear_1</c>→SiLU→<c>linear_2</c>.</summary>
public sealed class TimestepEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly Linear linear_1;
    private readonly Linear linear_2;

    public TimestepEmbedding(long inChannels, long embeddingDim) : base(nameof(TimestepEmbedding))
    {
        linear_1 = nn.Linear(inChannels, embeddingDim);
        linear_2 = nn.Linear(embeddingDim, embeddingDim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor projected)
    {
        using var h = F.silu(linear_1.forward(projected));
        return linear_2.forward(h);
    }

    /// <summary>diffusers' get_timestep_embedding: exp(−ln(10000)·i/(half−shift)), [sin, cos] (or [cos, sin]).</summary>
    public static Tensor Sinusoidal(Tensor timesteps, long dim, bool flipSinToCos, int freqShift)
    {
        using var scope = NewDisposeScope();
        long half = dim / 2;
        var exponent = -Math.Log(10000) * arange(0, half, dtype: ScalarType.Float32, device: timesteps.device) / (half - freqShift);
        var args = timesteps.to_type(ScalarType.Float32).unsqueeze(1) * exponent.exp().unsqueeze(0);
        var emb = flipSinToCos ? cat([args.cos(), args.sin()], 1) : cat([args.sin(), args.cos()], 1);
        if (dim % 2 == 1) emb = F.pad(emb, [0, 1, 0, 0]);
        return emb.MoveToOuterDisposeScope();
    }
}

/// <summary>CrossAttnDownBlock2D / DownBlock2D: resnets (each followed by a transformer when cross-attending), then a downsampler.</summary>
public sealed class UNetDownBlock : nn.Module
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Transformer2DModel>? attentions;
    private readonly ModuleList<Downsample2D>? downsamplers;

    public UNetDownBlock(long inChannels, long outChannels, long temb, int layers, int groups, double eps, bool crossAttention,
        int heads, long crossAttentionDim, bool linearProjection, bool addDownsample, int downsamplePadding)
        : base(nameof(UNetDownBlock))
    {
        resnets = nn.ModuleList(Enumerable.Range(0, layers)
            .Select(j => new ResnetBlock2D(j == 0 ? inChannels : outChannels, outChannels, temb, groups, eps)).ToArray());
        if (crossAttention)
            attentions = nn.ModuleList(Enumerable.Range(0, layers)
                .Select(_ => new Transformer2DModel(outChannels, heads, crossAttentionDim, groups, linearProjection)).ToArray());
        if (addDownsample)
            downsamplers = nn.ModuleList(new Downsample2D(outChannels, downsamplePadding));
        RegisterComponents();
    }

    /// <summary>Runs the block and appends each output to <paramref name="skips"/> (the UNet's skip connections).</summary>
    public Tensor Forward(Tensor h, Tensor temb, Tensor context, List<Tensor> skips)
    {
        for (int j = 0; j < resnets.Count; j++)
        {
            h = resnets[j].forward(h, temb);
            if (attentions is not null) h = attentions[j].forward(h, context);
            skips.Add(h);
        }
        if (downsamplers is not null)
        {
            h = downsamplers[0].forward(h);
            skips.Add(h);
        }
        return h;
    }
}

/// <summary>UNetMidBlock2DCrossAttn: resnet, transformer, resnet.</summary>
public sealed class UNetMidBlock : nn.Module
{
    private readonly ModuleList<Transformer2DModel> attentions;
    private readonly ModuleList<ResnetBlock2D> resnets;

    public UNetMidBlock(long channels, long temb, int groups, double eps, int heads, long crossAttentionDim, bool linearProjection)
        : base(nameof(UNetMidBlock))
    {
        attentions = nn.ModuleList(new Transformer2DModel(channels, heads, crossAttentionDim, groups, linearProjection));
        resnets = nn.ModuleList(new ResnetBlock2D(channels, channels, temb, groups, eps),
            new ResnetBlock2D(channels, channels, temb, groups, eps));
        RegisterComponents();
    }

    public Tensor Forward(Tensor h, Tensor temb, Tensor context)
    {
        h = resnets[0].forward(h, temb);
        h = attentions[0].forward(h, context);
        return resnets[1].forward(h, temb);
    }
}

/// <summary>CrossAttnUpBlock2D / UpBlock2D: each resnet takes one skip connection (concatenated on channels).</summary>
public sealed class UNetUpBlock : nn.Module
{
    private readonly ModuleList<ResnetBlock2D> resnets;
    private readonly ModuleList<Transformer2DModel>? attentions;
    private readonly ModuleList<Upsample2D>? upsamplers;

    public int ResnetCount => resnets.Count;

    public UNetUpBlock(long inChannels, long outChannels, long prevOutputChannels, long temb, int layers, int groups, double eps,
        bool crossAttention, int heads, long crossAttentionDim, bool linearProjection, bool addUpsample)
        : base(nameof(UNetUpBlock))
    {
        resnets = nn.ModuleList(Enumerable.Range(0, layers).Select(j =>
        {
            long skip = j == layers - 1 ? inChannels : outChannels;
            long resIn = j == 0 ? prevOutputChannels : outChannels;
            return new ResnetBlock2D(resIn + skip, outChannels, temb, groups, eps);
        }).ToArray());
        if (crossAttention)
            attentions = nn.ModuleList(Enumerable.Range(0, layers)
                .Select(_ => new Transformer2DModel(outChannels, heads, crossAttentionDim, groups, linearProjection)).ToArray());
        if (addUpsample)
            upsamplers = nn.ModuleList(new Upsample2D(outChannels));
        RegisterComponents();
    }

    /// <summary><paramref name="skips"/> in push order; the last one is consumed first.</summary>
    public Tensor Forward(Tensor h, List<Tensor> skips, Tensor temb, Tensor context, long[]? upsampleSize)
    {
        for (int j = 0; j < resnets.Count; j++)
        {
            h = resnets[j].forward(cat([h, skips[^(j + 1)]], 1), temb);
            if (attentions is not null) h = attentions[j].forward(h, context);
        }
        if (upsamplers is not null) h = upsamplers[0].forward(h, upsampleSize);
        return h;
    }
}
