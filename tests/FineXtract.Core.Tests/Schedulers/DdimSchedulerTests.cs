using FineXtract.Checkpoints;
using FineXtract.Diffusion.Schedulers;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace FineXtract.Tests.Schedulers;

public class DdimSchedulerTests(ITestOutputHelper log)
{
    public static TheoryData<string, int, long> Steps()
    {
        var data = new TheoryData<string, int, long>();
        foreach (var p in new[] { "epsilon", "v_prediction" })
        {
            foreach (var t in new long[] { 981, 481, 1 }) data.Add(p, 50, t);
            foreach (var t in new long[] { 901, 401, 1 }) data.Add(p, 10, t);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Steps))]
    public void StepMatchesDiffusers(string prediction, int steps, long timestep)
    {
        using var f = SafeTensorsFile.Open(SchedulerFixtures.ReferencePath);
        var config = SchedulerFixtures.Ddim() with
        {
            PredictionType = prediction == "epsilon" ? PredictionType.Epsilon : PredictionType.VPrediction,
        };
        using var s = new DdimScheduler(config);
        s.SetTimesteps(steps);
        Assert.Contains(timestep, s.Timesteps);
        using var scope = NewDisposeScope();
        var sample = f.Load("step_input.sample");
        var modelOutput = f.Load("step_input.model_output");
        using var output = s.Step(modelOutput, timestep, sample);
        var key = $"ddim.{prediction}.n{steps}.t{timestep}";
        var (prevErr, prevScale) = SchedulerFixtures.Error(output.PrevSample, f.Load(key + ".prev_sample"));
        var (x0Err, x0Scale) = SchedulerFixtures.Error(output.PredOriginalSample!, f.Load(key + ".pred_original_sample"));
        log.WriteLine($"{key}: prev_sample {prevErr:E3} (|ref| ≤ {prevScale:F3}), pred_original_sample {x0Err:E3} (|ref| ≤ {x0Scale:F3})");
        Assert.True(prevErr <= 1e-5 && x0Err <= 1e-5,
            $"{key}: prev_sample max abs error {prevErr:E3} (|ref| ≤ {prevScale:F3}), pred_original_sample {x0Err:E3} (|ref| ≤ {x0Scale:F3})");
        // Inputs are untouched.
        Assert.True(sample.allclose(f.Load("step_input.sample"), rtol: 0, atol: 0));
    }

    [Fact]
    public void CfgBaselineLoopMatchesDiffusers()
    {
        using var io = SafeTensorsFile.Open(SchedulerFixtures.FineXtractIoPath);
        using var s = SchedulerFactory.FromConfig(SchedulerFixtures.Ddim());
        Assert.IsType<DdimScheduler>(s);
        var (worstRel, worstStep) = CfgReplay.Run(s, io, "baseline_cfg.ddim", guidance: 3.0);
        log.WriteLine($"DDIM CFG replay: worst relative error {worstRel:E3} at step {worstStep}");
        Assert.True(worstRel <= 2e-4, $"DDIM CFG replay: worst max-abs error relative to max |latents| {worstRel:E3} at step {worstStep}");
    }

    [Fact]
    public void ClipSampleClampsPredictedOriginal()
    {
        using var s = new DdimScheduler(SchedulerConfig.StableDiffusion1 with { ClipSample = true, ClipSampleRange = 0.5 });
        s.SetTimesteps(10);
        using var scope = NewDisposeScope();
        var sample = randn(1, 4, 8, 8) * 5;
        var eps = randn(1, 4, 8, 8);
        using var o = s.Step(eps, 901, sample);
        Assert.True(o.PredOriginalSample!.abs().max().item<float>() <= 0.5f);
        var a = s.Schedule.AlphaCumprod(801);
        using var expected = o.PredOriginalSample * MathF.Sqrt(a) + eps * MathF.Sqrt(1 - a);
        Assert.True(o.PrevSample.allclose(expected, rtol: 0, atol: 1e-5));
    }

    [Fact]
    public void StepLeavesOnlyItsResultsInTheCallersScope()
    {
        using var s = new DdimScheduler(SchedulerConfig.StableDiffusion1 with { PredictionType = PredictionType.VPrediction });
        s.SetTimesteps(50);
        using var sample = randn(2, 4, 8, 8);
        using var v = randn(2, 4, 8, 8);
        using var outer = NewDisposeScope();
        var o = s.Step(v, 481, sample);
        Assert.Equal(2, outer.DisposablesCount);
        outer.Dispose();
        Assert.True(o.PrevSample.IsInvalid);
        Assert.True(o.PredOriginalSample!.IsInvalid);
    }

    [Fact]
    public void MisuseThrows()
    {
        using var s = new DdimScheduler(SchedulerConfig.StableDiffusion1);
        using var x = zeros(1, 4, 8, 8);
        Assert.Throws<InvalidOperationException>(() => s.Step(x, 981, x));
        s.SetTimesteps(50);
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Step(x, 1000, x));
        Assert.Throws<ArgumentOutOfRangeException>(() => s.Step(x, -1, x));
        using var scaled = s.ScaleModelInput(x, 981);
        Assert.True(scaled.allclose(x, rtol: 0, atol: 0));
        Assert.Equal(1.0, s.InitNoiseSigma);
    }
}

/// <summary>
/// Replays a recorded diffusers CFG sampling loop (finextract/io.safetensors <c>baseline_cfg.*</c>) through a
/// scheduler: the recorded UNet outputs are batched [uncond × B, cond × B], so the guided prediction is
/// uncond + g·(cond − uncond). Returns the worst per-step max-abs error relative to max |reference latents|.
/// Disposes every input after its step, so the scheduler must not keep references to caller tensors.
/// </summary>
internal static class CfgReplay
{
    public static (double WorstRelative, int WorstStep) Run(IScheduler s, SafeTensorsFile io, string prefix, double guidance)
    {
        var timesteps = SchedulerFixtures.Longs(io, prefix + ".timesteps");
        s.SetTimesteps(10);
        Assert.Equal(timesteps, s.Timesteps);
        using var preds = io.Load(prefix + ".noise_pred_uncond_cond");
        using var after = io.Load(prefix + ".latents_after_each_step");
        Assert.Equal(new long[] { timesteps.Length, 4, 4, 8, 8 }, preds.shape);
        Assert.Equal(timesteps.Length, after.shape[0]);
        Tensor latents;
        using (var start = io.Load("start_latents")) latents = start * s.InitNoiseSigma;
        Assert.Equal(new long[] { 2, 4, 8, 8 }, latents.shape);
        double worst = 0;
        var worstStep = -1;
        for (var i = 0; i < timesteps.Length; i++)
        {
            using var scope = NewDisposeScope();
            var model = preds[i];
            var uncond = model.narrow(0, 0, 2);
            var cond = model.narrow(0, 2, 2);
            var guided = (uncond + (cond - uncond) * guidance).clone();
            var input = s.ScaleModelInput(latents, timesteps[i]);
            var output = s.Step(guided, timesteps[i], input);
            guided.Dispose();
            input.Dispose();
            latents.Dispose();
            var (err, scale) = SchedulerFixtures.Error(output.PrevSample, after[i]);
            if (err / scale > worst) { worst = err / scale; worstStep = i; }
            latents = output.PrevSample.DetachFromDisposeScope();
        }
        using var final = io.Load(prefix + ".final_latents");
        var (fe, fs) = SchedulerFixtures.Error(latents, final);
        latents.Dispose();
        if (fe / fs > worst) { worst = fe / fs; worstStep = timesteps.Length; }
        return (worst, worstStep);
    }
}
