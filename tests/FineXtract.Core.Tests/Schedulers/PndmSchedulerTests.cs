using FineXtract.Checkpoints;
using FineXtract.Diffusion.Schedulers;
using static TorchSharp.torch;
using Xunit.Abstractions;

namespace FineXtract.Tests.Schedulers;

public class PndmSchedulerTests(ITestOutputHelper log)
{
    [Fact]
    public void CfgBaselineLoopMatchesDiffusers()
    {
        using var io = SafeTensorsFile.Open(SchedulerFixtures.FineXtractIoPath);
        using var s = SchedulerFactory.FromConfig(SchedulerFixtures.Pndm());
        Assert.IsType<PndmScheduler>(s);
        var (worstRel, worstStep) = CfgReplay.Run(s, io, "baseline_cfg.pndm", guidance: 3.0);
        log.WriteLine($"PNDM CFG replay: worst relative error {worstRel:E3} at step {worstStep}");
        Assert.True(worstRel <= 2e-4, $"PNDM (PLMS) CFG replay: worst max-abs error relative to max |latents| {worstRel:E3} at step {worstStep}");
        Assert.Equal(11, ((PndmScheduler)s).Counter);

        // SetTimesteps clears the history: a second run gives the same answer.
        var (again, _) = CfgReplay.Run(s, io, "baseline_cfg.pndm", guidance: 3.0);
        Assert.Equal(worstRel, again);
    }

    [Fact]
    public void FirstTwoStepsFollowDiffusersSpecialCases()
    {
        var config = SchedulerConfig.StableDiffusion1;
        using var s = new PndmScheduler(config);
        s.SetTimesteps(50);
        using var scope = NewDisposeScope();
        var x = randn(1, 4, 8, 8);
        var e0 = randn(1, 4, 8, 8);
        var e1 = randn(1, 4, 8, 8);
        var e2 = randn(1, 4, 8, 8);
        var sched = s.Schedule;

        // Step 0 (t = 981): x_961 from ε₀. Step 1 (t = 961, the duplicate): again 981 → 961 from the stored x_981
        // with (ε₀ + ε₁)/2, ignoring the sample it is given. Step 2 (t = 961): 961 → 941 with (3ε₂ − ε₀)/2,
        // because ε₁ never enters the history.
        var x961 = s.Step(e0, 981, x).PrevSample;
        Assert.True(x961.allclose(Transfer(sched, x, 981, 961, e0), rtol: 0, atol: 1e-5));
        var x961b = s.Step(e1, 961, x961 * 100).PrevSample;
        Assert.True(x961b.allclose(Transfer(sched, x, 981, 961, (e0 + e1) / 2), rtol: 0, atol: 1e-5));
        var x941 = s.Step(e2, 961, x961b).PrevSample;
        Assert.True(x941.allclose(Transfer(sched, x961b, 961, 941, (e2 * 3 - e0) / 2), rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void VPredictionFirstStepEqualsEpsilonStep()
    {
        using var eps = new PndmScheduler(SchedulerConfig.StableDiffusion1);
        using var vp = new PndmScheduler(SchedulerConfig.StableDiffusion1 with { PredictionType = PredictionType.VPrediction });
        eps.SetTimesteps(50);
        vp.SetTimesteps(50);
        using var scope = NewDisposeScope();
        var x = randn(2, 4, 8, 8);
        var e = randn(2, 4, 8, 8);
        var a = eps.Schedule.AlphaCumprod(981);
        // v such that √ᾱ·v + √(1−ᾱ)·x = ε.
        var v = (e - x * Math.Sqrt(1 - a)) / Math.Sqrt(a);
        var fromEps = eps.Step(e, 981, x).PrevSample;
        var fromV = vp.Step(v, 981, x).PrevSample;
        var (err, scale) = SchedulerFixtures.Error(fromV, fromEps);
        Assert.True(err <= 1e-4 * scale, $"v-prediction vs epsilon first PNDM step: max abs difference {err:E3} (|x| ≤ {scale:F2})");
    }

    [Fact]
    public void PrkWarmupIsRefused()
    {
        var e = Assert.Throws<FineXtractException>(() => new PndmScheduler(SchedulerConfig.StableDiffusion1 with { SkipPrkSteps = false }));
        Assert.Contains("skip_prk_steps", e.Message);
    }

    [Fact]
    public void KeepsNoTensorsInTheCallersScope()
    {
        using var s = new PndmScheduler(SchedulerConfig.StableDiffusion1);
        s.SetTimesteps(10);
        using var x = randn(1, 4, 8, 8);
        using var e = randn(1, 4, 8, 8);
        for (var i = 0; i < 6; i++)
        {
            using var outer = NewDisposeScope();
            var o = s.Step(e, s.Timesteps[i], x);
            Assert.Equal(1, outer.DisposablesCount);
            Assert.Null(o.PredOriginalSample);
        }
        using var fresh = new PndmScheduler(SchedulerConfig.StableDiffusion1);
        Assert.Throws<InvalidOperationException>(() => fresh.Step(e, 901, x));
    }

    /// <summary>diffusers' PNDM transfer, recomputed in float64.</summary>
    private static Tensor Transfer(NoiseSchedule s, Tensor x, long t, long prev, Tensor eps)
    {
        double a = s.AlphaCumprod(t), ap = s.AlphaCumprod(prev);
        var denom = a * Math.Sqrt(1 - ap) + Math.Sqrt(a * (1 - a) * ap);
        return x * Math.Sqrt(ap / a) - eps * ((ap - a) / denom);
    }
}
