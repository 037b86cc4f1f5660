using FineXtract.Checkpoints;
using FineXtract.Diffusion.Schedulers;
using Xunit.Abstractions;

namespace FineXtract.Tests.Schedulers;

public class SchedulerConfigTests(ITestOutputHelper log)
{
    [Fact]
    public void LoadsFixtureConfig()
    {
        var c = SchedulerFixtures.Ddim();
        Assert.Equal("DDIMScheduler", c.ClassName);
        Assert.Equal(1000, c.NumTrainTimesteps);
        Assert.Equal(0.00085, c.BetaStart);
        Assert.Equal(0.012, c.BetaEnd);
        Assert.Equal(BetaSchedule.ScaledLinear, c.BetaSchedule);
        Assert.Null(c.TrainedBetas);
        Assert.Equal(1, c.StepsOffset);
        Assert.False(c.SetAlphaToOne);
        Assert.False(c.ClipSample);
        Assert.Equal(PredictionType.Epsilon, c.PredictionType);
        Assert.Equal(TimestepSpacing.Leading, c.TimestepSpacing);

        var p = SchedulerFixtures.Pndm();
        Assert.Equal("PNDMScheduler", p.ClassName);
        Assert.True(p.SkipPrkSteps);
    }

    [Fact]
    public void MissingKeysTakeSd1Values()
    {
        var c = SchedulerConfig.Parse("{}");
        Assert.Null(c.ClassName);
        Assert.Equal(SchedulerConfig.StableDiffusion1 with { ClassName = null }, c);
        Assert.Equal("PNDMScheduler", SchedulerConfig.StableDiffusion1.ClassName);
        // Old configs (SD v1-4's original PNDM file) have no timestep_spacing and null trained_betas.
        var old = SchedulerConfig.Parse("""{"_class_name":"PNDMScheduler","beta_end":0.012,"beta_schedule":"scaled_linear","beta_start":0.00085,"num_train_timesteps":1000,"set_alpha_to_one":false,"skip_prk_steps":true,"steps_offset":1,"trained_betas":null}""");
        Assert.Equal(TimestepSpacing.Leading, old.TimestepSpacing);
        Assert.Null(old.TrainedBetas);
        var v = SchedulerConfig.Parse("""{"prediction_type":"v_prediction","timestep_spacing":"trailing","beta_schedule":"linear","num_train_timesteps":1000.0}""");
        Assert.Equal(PredictionType.VPrediction, v.PredictionType);
        Assert.Equal(TimestepSpacing.Trailing, v.TimestepSpacing);
        Assert.Equal(BetaSchedule.Linear, v.BetaSchedule);
        Assert.Equal(1000, v.NumTrainTimesteps);
    }

    [Theory]
    [InlineData("""{"beta_schedule":"squaredcos_cap_v2"}""", "beta_schedule")]
    [InlineData("""{"prediction_type":"sample"}""", "prediction_type")]
    [InlineData("""{"timestep_spacing":"karras"}""", "timestep_spacing")]
    [InlineData("""{"num_train_timesteps":"1000"}""", "num_train_timesteps")]
    [InlineData("""{"num_train_timesteps":0}""", "num_train_timesteps")]
    [InlineData("""{"num_train_timesteps":10.5}""", "num_train_timesteps")]
    [InlineData("""{"beta_start":1.5}""", "beta_start")]
    [InlineData("""{"beta_end":-0.1}""", "beta_end")]
    [InlineData("""{"steps_offset":-1}""", "steps_offset")]
    [InlineData("""{"clip_sample":"yes"}""", "clip_sample")]
    [InlineData("""{"clip_sample_range":0}""", "clip_sample_range")]
    [InlineData("""{"thresholding":true}""", "thresholding")]
    [InlineData("""{"rescale_betas_zero_snr":true}""", "rescale_betas_zero_snr")]
    [InlineData("""{"num_train_timesteps":3,"trained_betas":[0.1,0.2]}""", "trained_betas")]
    [InlineData("""{"num_train_timesteps":2,"trained_betas":[0.1,"x"]}""", "trained_betas")]
    [InlineData("""{"_class_name":5}""", "_class_name")]
    [InlineData("""[1,2]""", "JSON object")]
    [InlineData("""{"beta_start":""", "JSON")]
    public void BadValuesAreUserErrors(string json, string mentioned)
    {
        var e = Assert.ThrowsAny<FineXtractException>(() => SchedulerConfig.Parse(json, "my.json"));
        Assert.Contains(mentioned, e.Message);
        Assert.StartsWith("my.json", e.Message);
    }

    [Fact]
    public void MissingFileIsUserError()
    {
        var e = Assert.ThrowsAny<FineXtractException>(() => SchedulerConfig.Load("/nonexistent/scheduler_config.json"));
        Assert.Contains("/nonexistent/scheduler_config.json", e.Message);
    }

    [Fact]
    public void BetasAndAlphasCumprodMatchDiffusers()
    {
        using var f = SafeTensorsFile.Open(SchedulerFixtures.ReferencePath);
        var s = new NoiseSchedule(SchedulerFixtures.Ddim());
        foreach (var (name, actual) in new[] { ("betas", s.Betas), ("alphas_cumprod", s.AlphasCumprod), ("ddpm.alphas_cumprod", s.AlphasCumprod) })
        {
            using var t = f.Load(name);
            var expected = t.data<float>().ToArray();
            Assert.Equal(expected.Length, actual.Count);
            double worst = 0;
            var differing = 0;
            for (var i = 0; i < expected.Length; i++)
            {
                worst = Math.Max(worst, Math.Abs((double)actual[i] - expected[i]));
                if (BitConverter.SingleToInt32Bits(actual[i]) != BitConverter.SingleToInt32Bits(expected[i])) differing++;
            }
            log.WriteLine($"{name}: worst abs error {worst:E3}, {differing} of {expected.Length} values not bit-identical");
            Assert.True(worst <= 1e-7, $"{name}: worst abs error {worst:E3}, {differing} of {expected.Length} values not bit-identical");
        }
        using var fa = f.Load("final_alpha_cumprod");
        Assert.Equal(fa.data<float>()[0], s.FinalAlphaCumprod);
        Assert.Equal(s.AlphaCumprod(0), s.FinalAlphaCumprod);
        // Values quoted (rounded) in docs/sd-formats.md §6.1.
        Assert.Equal(0.999150, s.AlphaCumprod(0), 2e-6);
        Assert.Equal(0.276333, s.AlphaCumprod(500), 2e-6);
        Assert.Equal(0.004660, s.AlphaCumprod(999), 2e-6);
    }

    [Fact]
    public void SetAlphaToOneLinearAndTrainedBetas()
    {
        var one = new NoiseSchedule(SchedulerConfig.StableDiffusion1 with { SetAlphaToOne = true });
        Assert.Equal(1.0f, one.FinalAlphaCumprod);
        Assert.Equal(1.0f, one.AlphaCumprodPrev(-1));

        var linear = new NoiseSchedule(new SchedulerConfig { BetaSchedule = BetaSchedule.Linear, BetaStart = 0.0001, BetaEnd = 0.02 });
        double cum = 1;
        for (var i = 0; i < 1000; i++)
        {
            var beta = 0.0001 + (0.02 - 0.0001) * i / 999;
            Assert.Equal(beta, linear.Betas[i], 1e-6 * beta);
            cum *= 1 - beta;
            Assert.True(Math.Abs(cum - linear.AlphasCumprod[i]) <= 1e-6 * Math.Max(cum, 1e-3), $"linear ᾱ[{i}]");
        }

        var trained = new NoiseSchedule(SchedulerConfig.Parse("""{"num_train_timesteps":3,"trained_betas":[0.1,0.2,0.5],"beta_schedule":"linear"}"""));
        Assert.Equal([0.1f, 0.2f, 0.5f], trained.Betas);
        Assert.Equal(0.9f * 0.8f * 0.5f, trained.AlphasCumprod[2], 6);
        Assert.Throws<ArgumentOutOfRangeException>(() => trained.AlphaCumprod(3));
    }
}
