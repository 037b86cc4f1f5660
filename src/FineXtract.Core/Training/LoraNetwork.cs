using System.Security.Cryptography;
using FineXtract.Checkpoints;
using FineXtract.Diffusion.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FineXtract.Training;

/// <summary>
/// Low-rank adapters for the UNet's attention projections (<c>to_q</c>, <c>to_k</c>, <c>to_v</c>, <c>to_out.0</c>,
/// as FineXtract's LoRA script targets), attached with forward hooks so that the model code is unchanged:
/// y = W·x + (alpha / rank) · up(down(x)). Down is Gaussian N(0, 1/rank) and up zero at the start (peft's
/// "gaussian" init), so the adapted model starts as the base. Written as a kohya-ss file.
/// </summary>
public sealed class LoraNetwork : nn.Module
{
    public static readonly string[] DefaultTargets = ["to_q", "to_k", "to_v", "to_out.0"];

    /// <summary>kohya sd-scripts' default LoRA: every Linear (and 1×1 conv) of the transformer blocks.</summary>
    public static readonly string[] TransformerTargets = [.. DefaultTargets, "ff.net.0.proj", "ff.net.2", "proj_in", "proj_out"];

    /// <summary>kohya's LoCon (network_args conv_dim): the transformer targets plus the ResNet blocks' 3×3 convolutions.</summary>
    public static readonly string[] AllTargets = [.. TransformerTargets, "conv1", "conv2"];

    /// <summary>Module-name suffixes of a named target set: attention (FineXtract's script) or transformer (kohya's default).</summary>
    public static IReadOnlyList<string> TargetSet(string name) => name switch
    {
        "attention" => DefaultTargets,
        "transformer" => TransformerTargets,
        "locon" => AllTargets,
        _ => throw new FineXtractException($"unknown LoRA target set '{name}' (attention | transformer | locon)"),
    };

    private readonly ModuleList<LoraModule> adapters;
    private readonly List<(string Name, nn.Module<Tensor, Tensor> Base)> _targets;
    private readonly List<Action> _hooks = [];

    public int Rank { get; }
    public double Alpha { get; }
    public double Scale => Alpha / Rank;

    /// <summary>UNet module names that carry an adapter, in order.</summary>
    public IReadOnlyList<string> TargetNames => _targets.Select(t => t.Name).ToList();

    public LoraNetwork(UNet2DConditionModel unet, int rank, double alpha, long seed, IReadOnlyList<string>? targets = null)
        : base(nameof(LoraNetwork))
    {
        if (rank < 1) throw new FineXtractException($"--rank must be at least 1, got {rank}");
        if (!(alpha > 0)) throw new FineXtractException($"--alpha must be positive, got {alpha}");
        Rank = rank;
        Alpha = alpha;
        targets ??= DefaultTargets;
        // Linear layers, and stride-1 convolutions (1×1 projections, the ResNet blocks' 3×3 conv1/conv2).
        _targets = unet.named_modules()
            .Where(m => (m.module is Linear || m.module is Conv2d) && targets.Any(t => m.name.EndsWith("." + t, StringComparison.Ordinal)))
            .Select(m => (m.name, (nn.Module<Tensor, Tensor>)m.module)).ToList();
        if (_targets.Count == 0) throw new FineXtractException("the UNet has no layers of this target set to adapt");
        using var generator = StepRandom.Generator(seed, 0, StepRandom.Stream.Init);
        adapters = nn.ModuleList(_targets.Select(t => t.Base is Linear l
            ? LoraModule.ForLinear(l.in_features, l.out_features, rank, Scale, generator)
            : LoraModule.ForConv(((Conv2d)t.Base).weight!.shape, rank, Scale, generator)).ToArray());
        RegisterComponents();
    }

    /// <summary>Hooks the adapters into the UNet's forward (until <see cref="Detach"/>).</summary>
    public void Attach()
    {
        if (_hooks.Count > 0) return;
        for (int i = 0; i < _targets.Count; i++)
        {
            var adapter = adapters[i];
            var remover = _targets[i].Base.register_forward_hook((_, input, output) => output + adapter.forward(input));
            _hooks.Add(remover.remove);
        }
    }

    public void Detach()
    {
        foreach (var remove in _hooks) remove();
        _hooks.Clear();
    }

    /// <summary>kohya tensors: <c>lora_unet_&lt;module path, . → _&gt;.{lora_down.weight, lora_up.weight, alpha}</c>.</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> KohyaTensors()
    {
        for (int i = 0; i < _targets.Count; i++)
        {
            string stem = "lora_unet_" + _targets[i].Name.Replace('.', '_');
            var adapter = adapters[i];
            yield return KeyValuePair.Create(stem + ".lora_down.weight", adapter.DownWeight);
            yield return KeyValuePair.Create(stem + ".lora_up.weight", adapter.UpWeight);
            yield return KeyValuePair.Create(stem + ".alpha", torch.tensor((float)Alpha));
        }
    }

    /// <summary>
    /// Writes the kohya-format file with <paramref name="metadata"/> plus <c>sshs_model_hash</c> (SHA-256 of the data
    /// section, what kohya and A1111 call the model hash / AutoV3).
    /// </summary>
    public void WriteKohya(string path, IReadOnlyDictionary<string, string> metadata, bool fp16)
    {
        using var scope = NewDisposeScope();
        var tensors = ModelWriters.Stored(KohyaTensors(), fp16).OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (_, t) in tensors)
        {
            using var c = t.contiguous();
            sha.AppendData(c.bytes);
        }
        var all = new Dictionary<string, string>(metadata) { ["sshs_model_hash"] = Convert.ToHexStringLower(sha.GetHashAndReset()) };
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        SafeTensorsWriter.Write(path, tensors, all);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) Detach();
        base.Dispose(disposing);
    }
}

/// <summary>
/// One adapter: <c>down</c> (in → rank) then <c>up</c> (rank → out), both without bias, output scaled. On a Linear
/// both are Linear; on a stride-1 k×k convolution (LoCon) down is a k×k conv with "same" padding and up a 1×1 conv,
/// as kohya stores conv LoRAs.
/// </summary>
public sealed class LoraModule : nn.Module<Tensor, Tensor>
{
    private readonly nn.Module<Tensor, Tensor> down;
    private readonly nn.Module<Tensor, Tensor> up;
    private readonly double _scale;

    public Tensor DownWeight => down.parameters().Single();
    public Tensor UpWeight => up.parameters().Single();

    private LoraModule(nn.Module<Tensor, Tensor> down, nn.Module<Tensor, Tensor> up, int rank, double scale, Generator generator) : base(nameof(LoraModule))
    {
        this.down = down;
        this.up = up;
        _scale = scale;
        // peft's "gaussian" init: down ~ N(0, 1/rank), up zero, so the adapted model starts as the base.
        using (no_grad())
        {
            using var r = randn(DownWeight.shape, generator: generator);
            DownWeight.copy_(r / rank);
            UpWeight.zero_();
        }
        RegisterComponents();
    }

    public static LoraModule ForLinear(long inFeatures, long outFeatures, int rank, double scale, Generator generator) =>
        new(nn.Linear(inFeatures, rank, hasBias: false), nn.Linear(rank, outFeatures, hasBias: false), rank, scale, generator);

    /// <param name="baseShape">The adapted conv's weight shape [out, in, k, k].</param>
    public static LoraModule ForConv(long[] baseShape, int rank, double scale, Generator generator) =>
        new(nn.Conv2d(baseShape[1], rank, baseShape[2], padding: baseShape[2] / 2, bias: false), nn.Conv2d(rank, baseShape[0], 1, bias: false),
            rank, scale, generator);

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return (up.call(down.call(x)) * _scale).MoveToOuterDisposeScope();
    }
}
