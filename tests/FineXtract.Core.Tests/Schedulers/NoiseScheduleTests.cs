using FineXtract.Checkpoints;
using FineXtract.Diffusion.Schedulers;
using static TorchSharp.torch;
using Xunit.Abstractions;

namespace FineXtract.Tests.Schedulers;

public class NoiseScheduleTests(ITestOutputHelper log)
{
    [Fact]
    public void AddNoiseAndVelocityMatchDiffusers()
    {
        using var f = SafeTensorsFile.Open(SchedulerFixtures.ReferencePath);
        var s = new NoiseSchedule(SchedulerFixtures.Ddim());
        using var scope = NewDisposeScope();
        var x0 = f.Load("ddpm.add_noise.original_samples");
        var noise = f.Load("ddpm.add_noise.noise");
        var t = f.Load("ddpm.add_noise.timesteps");
        Assert.Equal(new long[] { 999, 500, 10 }, t.data<long>().ToArray());
        var (noisyErr, noisyScale) = SchedulerFixtures.Error(s.AddNoise(x0, noise, t), f.Load("ddpm.add_noise.noisy_samples"));
        var (velErr, velScale) = SchedulerFixtures.Error(s.GetVelocity(x0, noise, t), f.Load("ddpm.get_velocity"));
        log.WriteLine($"add_noise {noisyErr:E3} (|ref| ≤ {noisyScale:F2}), get_velocity {velErr:E3} (|ref| ≤ {velScale:F2})");
        Assert.True(noisyErr <= 1e-6 && velErr <= 1e-6,
            $"add_noise max abs error {noisyErr:E3} (|ref| ≤ {noisyScale:F2}), get_velocity {velErr:E3} (|ref| ≤ {velScale:F2})");

        // int32 timesteps and a single timestep broadcast over the batch.
        var single = s.AddNoise(x0, noise, tensor(new[] { 500 }));
        var a = s.AlphaCumprod(500);
        Assert.True(single.allclose(x0 * MathF.Sqrt(a) + noise * MathF.Sqrt(1 - a), rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void CoefficientsFollowTheSampleDtype()
    {
        var s = new NoiseSchedule(SchedulerConfig.StableDiffusion1);
        using var scope = NewDisposeScope();
        var x = randn(2, 4, 8, 8);
        var n = randn(2, 4, 8, 8);
        var t = tensor(new long[] { 999, 10 });
        var reference = s.AddNoise(x, n, t);
        var half = s.AddNoise(x.to(ScalarType.Float16), n.to(ScalarType.Float16), t);
        Assert.Equal(ScalarType.Float16, half.dtype);
        Assert.True(half.to(ScalarType.Float32).allclose(reference, rtol: 0, atol: 2e-2));
        var dbl = s.GetVelocity(x.to(ScalarType.Float64), n.to(ScalarType.Float64), t);
        Assert.Equal(ScalarType.Float64, dbl.dtype);
        Assert.True(dbl.to(ScalarType.Float32).allclose(s.GetVelocity(x, n, t), rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void BadTimestepsThrow()
    {
        var s = new NoiseSchedule(SchedulerConfig.StableDiffusion1);
        using var scope = NewDisposeScope();
        var x = zeros(2, 4, 8, 8);
        Assert.Throws<ArgumentOutOfRangeException>(() => s.AddNoise(x, x, tensor(new long[] { 0, 1000 })));
        Assert.Throws<ArgumentOutOfRangeException>(() => s.GetVelocity(x, x, tensor(new long[] { -1, 3 })));
        Assert.Throws<ArgumentException>(() => s.AddNoise(x, x, tensor(new[] { 1.0f, 2.0f })));
    }
}
