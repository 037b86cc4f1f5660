using FineXtract.Checkpoints;
using FineXtract.Diffusion.Schedulers;

namespace FineXtract.Tests.Schedulers;

public class TimestepTests
{
    [Fact]
    public void DdimTimestepsMatchDiffusers()
    {
        using var f = SafeTensorsFile.Open(SchedulerFixtures.ReferencePath);
        using var s = new DdimScheduler(SchedulerFixtures.Ddim());
        Assert.Empty(s.Timesteps);
        Assert.Null(s.NumInferenceSteps);
        foreach (var n in new[] { 50, 10 })
        {
            s.SetTimesteps(n);
            Assert.Equal(n, s.NumInferenceSteps);
            Assert.Equal(SchedulerFixtures.Longs(f, $"ddim.timesteps_{n}"), s.Timesteps);
        }
        s.SetTimesteps(50);
        Assert.Equal(981, s.Timesteps[0]);
        Assert.Equal(1, s.Timesteps[^1]);
        Assert.Equal(-19, s.PreviousTimestep(1));
    }

    [Fact]
    public void PndmTimestepsMatchDiffusers()
    {
        using var f = SafeTensorsFile.Open(SchedulerFixtures.ReferencePath);
        using var s = new PndmScheduler(SchedulerFixtures.Pndm());
        foreach (var n in new[] { 50, 10 })
        {
            s.SetTimesteps(n);
            Assert.Equal(SchedulerFixtures.Longs(f, $"pndm.timesteps_{n}"), s.Timesteps);
            Assert.Equal(n + 1, s.Timesteps.Length);
        }
        Assert.Equal(new long[] { 901, 801, 801, 701, 601, 501, 401, 301, 201, 101, 1 }, s.Timesteps);

        // The same lists as the pipelines in finextract/ used, and FineXtract's official sampler takes
        // scheduler.timesteps[0:S] of PNDM's list (docs/finextract-method.md §1.2).
        using var io = SafeTensorsFile.Open(SchedulerFixtures.FineXtractIoPath);
        Assert.Equal(SchedulerFixtures.Longs(io, "baseline_cfg.pndm.timesteps"), s.Timesteps);
        Assert.Equal(SchedulerFixtures.Longs(io, "official.pndm.timesteps"), s.Timesteps[..10]);
        using var d = new DdimScheduler(SchedulerFixtures.Ddim());
        d.SetTimesteps(10);
        Assert.Equal(SchedulerFixtures.Longs(io, "baseline_cfg.ddim.timesteps"), d.Timesteps);
    }

    [Fact]
    public void TrailingAndLinspaceSpacing()
    {
        var trailing = SchedulerConfig.StableDiffusion1 with { TimestepSpacing = TimestepSpacing.Trailing };
        Assert.Equal(Enumerable.Range(0, 10).Select(i => 999L - 100 * i), InferenceTimesteps.Descending(trailing, 10));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => 999L - 20 * i), InferenceTimesteps.Descending(trailing, 50));
        // 1000/3 = 333.33…: round(1000, 666.67, 333.33) − 1
        Assert.Equal(new long[] { 999, 666, 332 }, InferenceTimesteps.Descending(trailing, 3));

        var linspace = SchedulerConfig.StableDiffusion1 with { TimestepSpacing = TimestepSpacing.Linspace };
        Assert.Equal(new long[] { 999, 888, 777, 666, 555, 444, 333, 222, 111, 0 }, InferenceTimesteps.Descending(linspace, 10));
        // 499.5 rounds half to even (numpy): 500; 249.75 → 250, 749.25 → 749.
        Assert.Equal(new long[] { 999, 500, 0 }, InferenceTimesteps.Descending(linspace, 3));
        Assert.Equal(new long[] { 999, 749, 500, 250, 0 }, InferenceTimesteps.Descending(linspace, 5));
        Assert.Equal(new long[] { 0 }, InferenceTimesteps.Descending(linspace, 1));

        // PNDM keeps its duplicate with any spacing: ascending [0, 333, 666, 999] → 999, 666, 666, 333, 0.
        using var p = new PndmScheduler(SchedulerConfig.StableDiffusion1 with { TimestepSpacing = TimestepSpacing.Linspace });
        p.SetTimesteps(4);
        Assert.Equal(new long[] { 999, 666, 666, 333, 0 }, p.Timesteps);
        p.SetTimesteps(1);
        Assert.Equal(new long[] { 0 }, p.Timesteps);
    }

    [Fact]
    public void BadStepCountsAreUserErrors()
    {
        using var s = new DdimScheduler(SchedulerConfig.StableDiffusion1);
        Assert.Throws<FineXtractException>(() => s.SetTimesteps(0));
        Assert.Throws<FineXtractException>(() => s.SetTimesteps(1001));
        // leading spacing with steps_offset 1 would reach t = 1000.
        var e = Assert.Throws<FineXtractException>(() => s.SetTimesteps(1000));
        Assert.Contains("1000", e.Message);
        Assert.Null(s.NumInferenceSteps);
        s.SetTimesteps(500);
        Assert.Equal(999, s.Timesteps[0]);
    }
}
