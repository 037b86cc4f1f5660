using FineXtract.Diffusion.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FineXtract.Training;

/// <summary>
/// Initialisation of freshly built models for training from scratch. Needed because TorchSharp 0.107's
/// <c>nn.GroupNorm</c> leaves its affine weight and bias uninitialised (whatever the allocator returns: NaN,
/// denormals, garbage), unlike PyTorch's ones/zeros. Models loaded from checkpoints are unaffected (every tensor is
/// overwritten), but a model trained from scratch must be initialised here first (<see cref="Initialize"/> does it).
/// </summary>
public static class ModelInit
{
    /// <summary>
    /// PyTorch's default initialisation, redone with a private generator seeded by <paramref name="seed"/> (so that
    /// nothing else using libtorch's global RNG, e.g. a parallel test or thread, can change it): Linear and Conv2d
    /// weight and bias U(−1/√fan_in, 1/√fan_in) (kaiming_uniform with a = √5), norms 1/0, embeddings N(0, 1).
    /// Every parameter must belong to one of these module types.
    /// </summary>
    public static void Initialize(nn.Module model, long seed)
    {
        using var generator = StepRandom.Generator(seed, 0, StepRandom.Stream.Init);
        using var _ = no_grad();
        long covered = 0;
        void Uniform(Tensor? t, double bound)
        {
            if (t is null) return;
            using var r = torch.rand(t.shape, generator: generator);
            t.copy_(r * (2 * bound) - bound);
            covered += t.numel();
        }
        void Fill(Tensor? t, double value)
        {
            if (t is null) return;
            t.fill_(value);
            covered += t.numel();
        }
        foreach (var (_, module) in model.named_modules())
        {
            switch (module)
            {
                case Linear l:
                {
                    double bound = 1 / Math.Sqrt(l.in_features);
                    Uniform(l.weight, bound);
                    Uniform(l.bias, bound);
                    break;
                }
                case Conv2d c:
                {
                    var w = c.weight!;
                    double bound = 1 / Math.Sqrt(w.shape[1] * w.shape[2] * w.shape[3]);
                    Uniform(w, bound);
                    Uniform(c.bias, bound);
                    break;
                }
                case GroupNorm g:
                    Fill(g.weight, 1);
                    Fill(g.bias, 0);
                    break;
                case LayerNorm l:
                    Fill(l.weight, 1);
                    Fill(l.bias, 0);
                    break;
                case Embedding e:
                {
                    using var r = torch.randn(e.weight!.shape, generator: generator);
                    e.weight.copy_(r);
                    covered += r.numel();
                    break;
                }
            }
        }
        long total = ParameterCount(model);
        if (covered != total)
            throw new InvalidOperationException($"{model.GetName()}: {total - covered} parameters belong to modules ModelInit does not know");
    }

    /// <summary>A UNet ready for training from scratch.</summary>
    public static UNet2DConditionModel NewUnet(UNet2DConditionConfig config, long seed)
    {
        var unet = new UNet2DConditionModel(config);
        Initialize(unet, seed);
        return unet;
    }

    /// <summary>A VAE ready for training from scratch.</summary>
    public static AutoencoderKL NewVae(AutoencoderKLConfig config, long seed)
    {
        var vae = new AutoencoderKL(config);
        Initialize(vae, seed);
        return vae;
    }

    /// <summary>
    /// A text encoder ready for training from scratch: <see cref="Initialize"/>, then token embeddings N(0, 0.02)
    /// and position embeddings N(0, 0.01) as transformers' CLIP initialisation (instead of N(0, 1)).
    /// </summary>
    public static ClipTextModel NewTextEncoder(ClipTextConfig config, long seed)
    {
        var text = new ClipTextModel(config);
        Initialize(text, seed);
        using var _ = no_grad();
        foreach (var (name, p) in text.named_parameters())
        {
            if (name.EndsWith("token_embedding.weight", StringComparison.Ordinal)) p.mul_(0.02);
            else if (name.EndsWith("position_embedding.weight", StringComparison.Ordinal)) p.mul_(0.01);
        }
        return text;
    }

    /// <summary>Parameter count of a module.</summary>
    public static long ParameterCount(nn.Module module) => module.parameters().Sum(p => p.numel());
}
