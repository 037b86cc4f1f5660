using FineXtract.Diffusion.Models;
using FineXtract.Diffusion.Schedulers;
using FineXtract.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FineXtract.Tests.Training;

public class TrainingCoreTests
{
    private static readonly MiniatureFamily Tiny = MiniatureConfigs.Tiny;

    [Fact]
    public void PresetsAreConsistentAndTheMiniatureFitsTheBudget()
    {
        MiniatureConfigs.Miniature.Validate();
        Tiny.Validate();
        Assert.Equal(16, MiniatureConfigs.Miniature.LatentSize);
        Assert.Equal(49408, MiniatureConfigs.Miniature.Text.VocabSize);
        // Parameter counts from the configs (no weights built for the big one beyond counting).
        using var unet = new UNet2DConditionModel(MiniatureConfigs.Miniature.Unet);
        using var vae = new AutoencoderKL(MiniatureConfigs.Miniature.Vae);
        using var text = new ClipTextModel(MiniatureConfigs.Miniature.Text);
        long u = ModelInit.ParameterCount(unet), v = ModelInit.ParameterCount(vae), t = ModelInit.ParameterCount(text);
        double baseMb = 2.0 * (u + v + t) / 1e6, dreamboothMb = 2.0 * u / 1e6;
        Assert.True(baseMb + dreamboothMb + 2.0 < 40, $"base {baseMb:F1} MB + DreamBooth {dreamboothMb:F1} MB fp16");
    }

    [Fact]
    public void InitializeIsSeededAndSetsNorms()
    {
        using var a = ModelInit.NewUnet(Tiny.Unet, 3);
        using var b = ModelInit.NewUnet(Tiny.Unet, 3);
        using var c = ModelInit.NewUnet(Tiny.Unet, 4);
        var sa = a.state_dict();
        var sb = b.state_dict();
        Assert.All(sa, kv => Assert.True(kv.Value.allclose(sb[kv.Key], rtol: 0, atol: 0), kv.Key));
        Assert.False(sa["conv_in.weight"].allclose(c.state_dict()["conv_in.weight"], rtol: 0, atol: 0));
        foreach (var (_, m) in a.named_modules())
            if (m is GroupNorm g)
            {
                Assert.True(g.weight!.eq(1).all().item<bool>());
                Assert.True(g.bias!.eq(0).all().item<bool>());
            }
    }

    [Fact]
    public void GradientsReachEveryParameterThroughTheDisposeScopes()
    {
        using var unet = ModelInit.NewUnet(Tiny.Unet, 1);
        using var text = ModelInit.NewTextEncoder(Tiny.Text, 2);
        using var vae = ModelInit.NewVae(Tiny.Vae, 3);
        using var g = new Generator(5, CPU);
        using (var scope = NewDisposeScope())
        {
            var ids = TinyWorld.Tokenizer.EncodeBatch(["a photo of a cat", "a dog"]);
            using var o = text.Forward(ids);
            var x = randn([2, 4, 8, 8], generator: g);
            var pred = unet.forward(x, tensor(new long[] { 10, 900 }), o.LastHiddenState);
            nn.functional.mse_loss(pred, randn([2, 4, 8, 8], generator: g)).backward();
            var (mean, logvar) = vae.Encode(rand([2, 3, 16, 16], generator: g) * 2 - 1);
            (vae.Decode(mean).square().mean() + logvar.mean()).backward();
        }
        foreach (var (model, name) in new (nn.Module, string)[] { (unet, "unet"), (text, "text"), (vae, "vae") })
        {
            var parameters = model.named_parameters().ToList();
            foreach (var (n, p) in parameters)
            {
                Assert.True(p.grad is not null, $"{name}.{n}: no gradient");
                Assert.True(p.grad!.isfinite().all().item<bool>(), $"{name}.{n}: non-finite gradient");
            }
            // Token embeddings only get gradients on used rows; everything else must move.
            int zero = parameters.Count(kv => !kv.name.EndsWith("token_embedding.weight") && kv.parameter.grad!.abs().max().item<float>() == 0);
            Assert.Equal(0, zero);
        }
    }

    private static TrainingOptions Options(int steps, string dir, double lr = 1e-3, int every = 0) =>
        new() { Steps = steps, BatchSize = 2, LearningRate = lr, Seed = 11, CheckpointDir = dir, CheckpointEvery = every, MaxGradNorm = 1.0 };

    private static string TempDir() => Path.Combine(Path.GetTempPath(), "finextract-loop-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void UnetLossFallsOnAFixedBatch()
    {
        using var unet = ModelInit.NewUnet(Tiny.Unet, 1);
        using var g = new Generator(9, CPU);
        using var x = randn([2, 4, 8, 8], generator: g);
        using var noise = randn([2, 4, 8, 8], generator: g);
        using var ctx = randn([2, 77, 32], generator: g);
        using var t = tensor(new long[] { 100, 700 });
        var schedule = new NoiseSchedule(MiniatureConfigs.TrainingScheduler);
        string dir = TempDir();
        var loop = new TrainingLoop(Options(25, dir), "test", new Dictionary<string, nn.Module> { ["unet"] = unet });
        var result = loop.Run(_ => nn.functional.mse_loss(unet.forward(schedule.AddNoise(x, noise, t), t, ctx), noise));
        Directory.Delete(dir, true);
        Assert.Equal(25, result.Losses.Count);
        Assert.True(result.Losses[^1] < 0.6 * result.Losses[0], $"{result.Losses[0]:F4} → {result.Losses[^1]:F4}");
    }

    [Fact]
    public void VaeLossFallsOnAFixedBatch()
    {
        using var vae = ModelInit.NewVae(Tiny.Vae, 1);
        using var g = new Generator(9, CPU);
        using var coarse = rand([4, 3, 2, 2], generator: g);
        using var images = nn.functional.interpolate(coarse, size: [16, 16], mode: InterpolationMode.Bilinear, align_corners: true) * 2 - 1;
        string dir = TempDir();
        var loop = new TrainingLoop(Options(30, dir, lr: 2e-3), "vae", new Dictionary<string, nn.Module> { ["vae"] = vae });
        var result = loop.Run(step =>
        {
            using var gen = StepRandom.Generator(1, step, StepRandom.Stream.Noise);
            return VaeTrainer.Loss(vae, images, new VaeLossSettings(), gen);
        });
        Directory.Delete(dir, true);
        Assert.True(result.Losses[^1] < 0.6 * result.Losses[0], $"{result.Losses[0]:F4} → {result.Losses[^1]:F4}");
    }

    /// <summary>A small base-model training run on synthetic data: returns the losses and the final conv_in weights.</summary>
    private static (IReadOnlyList<double> Losses, Tensor Weights, TrainingResult Result) BaseRun(TinyWorld world, TrainingOptions options,
        CancellationToken cancel = default, Action<TrainingProgress>? progress = null)
    {
        using var data = world.PretrainData(flip: true);
        using var vae = FineXtract.Checkpoints.ModelLoader.LoadVae(world.BaseDir);
        using var cache = LatentCache.Build(vae, data, null);
        using var tokens = BaseTrainer.Tokenize(TinyWorld.Tokenizer, data.Entries);
        var empty = TinyWorld.Tokenizer.Encode("");
        using var unet = ModelInit.NewUnet(Tiny.Unet, options.Seed);
        using var text = ModelInit.NewTextEncoder(Tiny.Text, options.Seed + 1);
        var schedule = new NoiseSchedule(MiniatureConfigs.TrainingScheduler);
        var order = new DataOrder(data.Count, options.Seed);
        var loop = new TrainingLoop(options, "base", new Dictionary<string, nn.Module> { ["unet"] = unet, ["text_encoder"] = text });
        var result = loop.Run(step => BaseTrainer.Loss(unet, text, schedule, cache, vae.Config.ScalingFactor, tokens, empty,
            order.Batch(step, options.BatchSize), 0.5, options.Seed, step), progress, cancel);
        return (result.Losses, unet.state_dict()["conv_out.weight"].clone(), result);
    }

    public sealed class WithWorld(TinyWorld world) : IClassFixture<TinyWorld>
    {
        [Fact]
        public void SameSeedGivesTheSameLosses()
        {
            string d1 = world.NewDir("det1"), d2 = world.NewDir("det2");
            var (a, wa, _) = BaseRun(world, Options(3, d1));
            var (b, wb, _) = BaseRun(world, Options(3, d2));
            Assert.Equal(3, a.Count);
            Assert.Equal(a, b);
            Assert.True(wa.allclose(wb, rtol: 0, atol: 0));
            var (c, _, _) = BaseRun(world, Options(3, world.NewDir("det3")) with { Seed = 12 });
            Assert.NotEqual(a, c);
        }

        [Fact]
        public void ResumeContinuesAtTheSavedStepAsIfUninterrupted()
        {
            var (full, fullWeights, _) = BaseRun(world, Options(5, world.NewDir("full")));

            string dir = world.NewDir("resume");
            var (first, _, firstResult) = BaseRun(world, Options(5, dir, every: 2) with { Steps = 3 });
            Assert.Equal(3, first.Count);
            Assert.EndsWith("checkpoint-3", firstResult.LastCheckpoint);
            Assert.True(Directory.Exists(Path.Combine(dir, "checkpoint-2")));

            var (rest, restWeights, restResult) = BaseRun(world, Options(5, dir) with { Resume = true });
            Assert.Equal(3, restResult.StartStep);
            Assert.Equal(2, rest.Count);
            Assert.Equal(full.Skip(3), rest);
            Assert.True(restWeights.allclose(fullWeights, rtol: 0, atol: 0));
        }

        [Fact]
        public void CancellingSavesACheckpointThatResumes()
        {
            string dir = world.NewDir("cancel");
            using var cts = new CancellationTokenSource();
            var (losses, _, result) = BaseRun(world, Options(5, dir), cts.Token, p =>
            {
                if (p.Step == 2) cts.Cancel();
            });
            Assert.Equal(TrainingOutcome.Cancelled, result.Outcome);
            Assert.Equal(2, losses.Count);
            Assert.EndsWith("checkpoint-2", result.LastCheckpoint);
            var (_, _, resumed) = BaseRun(world, Options(5, dir) with { Resume = true });
            Assert.Equal(2, resumed.StartStep);
            Assert.Equal(TrainingOutcome.Completed, resumed.Outcome);

            var wrongSeed = Assert.Throws<FineXtractException>(() => BaseRun(world, Options(5, dir) with { Resume = true, Seed = 99 }));
            Assert.Contains("--seed", wrongSeed.Message);
            var none = Assert.Throws<FineXtractException>(() => BaseRun(world, Options(5, world.NewDir("empty")) with { Resume = true }));
            Assert.Contains("no checkpoint", none.Message);
        }
    }
}
