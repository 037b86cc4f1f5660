using System.Diagnostics;
using FineXtract.Diffusion.Schedulers;
using FineXtract.Tests.Models;
using FineXtract.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace FineXtract.Tests.Training;

/// <summary>Training steps (VAE encode, text encoder and UNet forward/backward, LoRA hooks, AdamW, checkpoints) keep RSS flat.</summary>
[Collection(nameof(NativeMemoryTests))]
public class TrainingMemoryTests(ITestOutputHelper log)
{
    private static long RssBytes()
    {
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64;
    }

    [Fact]
    public void TrainingStepsKeepRssFlat()
    {
        var family = MiniatureConfigs.Tiny;
        using var unet = ModelInit.NewUnet(family.Unet, 1);
        using var vae = ModelInit.NewVae(family.Vae, 2);
        using var text = ModelInit.NewTextEncoder(family.Text, 3);
        DiffusionTraining.Freeze(vae);
        DiffusionTraining.Freeze(unet);
        using var lora = new LoraNetwork(unet, 4, 4, 4);
        lora.Attach();
        using var ids = TinyWorld.Tokenizer.EncodeBatch(["a photo of a cat", "a dog", "a teapot", ""]);
        var schedule = new NoiseSchedule(MiniatureConfigs.TrainingScheduler);
        string dir = Path.Combine(Path.GetTempPath(), "finextract-mem-" + Guid.NewGuid().ToString("N"));

        void Run(int steps)
        {
            var options = new TrainingOptions { Steps = steps, BatchSize = 4, LearningRate = 1e-4, CheckpointDir = dir, CheckpointEvery = 100 };
            var loop = new TrainingLoop(options, "memory", new Dictionary<string, nn.Module> { ["lora"] = lora, ["text_encoder"] = text });
            loop.Run(step =>
            {
                using var g = StepRandom.Generator(0, step, StepRandom.Stream.Noise);
                var images = rand([4, 3, 16, 16], generator: g) * 2 - 1;
                var latents = DiffusionTraining.EncodeLatents(vae, images, g);
                using var o = text.Forward(ids);
                return DiffusionTraining.EpsilonLoss(unet, schedule, latents, o.LastHiddenState, g);
            });
        }

        Run(100); // warm-up: allocator pools reach steady state (RSS is flat from here, measured over 800 more steps)
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = RssBytes();
        Run(200);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long after = RssBytes();
        Directory.Delete(dir, true);
        double growthMb = (after - before) / 1048576.0;
        log.WriteLine($"RSS before {before / 1048576.0:F1} MB, after 200 training steps {after / 1048576.0:F1} MB, growth {growthMb:F1} MB");
        // Leaking one step's activations and gradients (batch 4) would be ≳0.5 MB × 200.
        Assert.True(growthMb < 40, $"RSS grew {growthMb:F1} MB over 200 training steps");
    }
}
