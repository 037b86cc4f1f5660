using System.Diagnostics;
using FineXtract.Checkpoints;
using TorchSharp;
using Xunit.Abstractions;

namespace FineXtract.Tests.Models;

[CollectionDefinition(nameof(NativeMemoryTests), DisableParallelization = true)]
public sealed class NativeMemoryCollection;

/// <summary>
/// Native memory must stay flat over many forwards: every intermediate tensor is disposed deterministically.
/// Runs alone (no other test allocating in the process meanwhile), so RSS growth is ours.
/// </summary>
[Collection(nameof(NativeMemoryTests))]
public class NativeMemoryTests(ITestOutputHelper log)
{
    private static long RssBytes()
    {
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64;
    }

    [Fact]
    public void RepeatedUnetForwardsKeepRssFlat()
    {
        using var unet = ModelLoader.LoadUnet(Fixtures.Parity);
        using var io = SafeTensorsFile.Open(Fixtures.Path_("unet", "io.safetensors"));
        using var sample = io.Load("sample");
        using var t = io.Load("timestep");
        using var ehs = io.Load("encoder_hidden_states");

        void Run(int n)
        {
            for (int i = 0; i < n; i++)
            {
                using var _ = torch.inference_mode();
                using var o = unet.forward(sample, t, ehs);
            }
        }

        Run(50); // warm-up: allocator pools and thread-local caches reach steady state
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long before = RssBytes();
        Run(400);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long after = RssBytes();
        double growthMb = (after - before) / 1048576.0;
        log.WriteLine($"RSS before {before / 1048576.0:F1} MB, after 400 forwards {after / 1048576.0:F1} MB, growth {growthMb:F1} MB");
        // One leaked set of activations per forward would be ~0.5 MB × 400 = 200 MB.
        Assert.True(growthMb < 40, $"RSS grew {growthMb:F1} MB over 400 forwards");
    }
}
