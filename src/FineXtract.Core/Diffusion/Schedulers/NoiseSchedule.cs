using TorchSharp;
using static TorchSharp.torch;

namespace FineXtract.Diffusion.Schedulers;

/// <summary>
/// The forward-diffusion schedule shared by every scheduler: betas, ᾱ = cumprod(1 − β) and the "previous" ᾱ
/// past t = 0, computed with the same float32 torch operations as diffusers (<c>linspace</c>, <c>** 2</c>,
/// <c>1.0 - betas</c>, <c>cumprod</c>), so the values agree with diffusers' tensors to the last bit or so.
/// Also the training-side operations of diffusers' DDPMScheduler: <see cref="AddNoise"/> and <see cref="GetVelocity"/>.
/// </summary>
public sealed class NoiseSchedule
{
    private readonly float[] _betas;
    private readonly float[] _alphasCumprod;

    public NoiseSchedule(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        var n = config.NumTrainTimesteps;
        using var scope = NewDisposeScope();
        Tensor betas;
        if (config.TrainedBetas is { } trained)
            betas = tensor(trained.Select(b => (float)b).ToArray(), ScalarType.Float32);
        else if (config.BetaSchedule == BetaSchedule.Linear)
            betas = linspace(config.BetaStart, config.BetaEnd, n, ScalarType.Float32);
        else
            betas = linspace(Math.Sqrt(config.BetaStart), Math.Sqrt(config.BetaEnd), n, ScalarType.Float32).pow(2);
        var alphas = betas.neg().add(1.0);
        var alphasCumprod = cumprod(alphas, 0);
        _betas = betas.data<float>().ToArray();
        _alphasCumprod = alphasCumprod.data<float>().ToArray();
        FinalAlphaCumprod = config.SetAlphaToOne ? 1.0f : _alphasCumprod[0];
    }

    public SchedulerConfig Config { get; }
    public int NumTrainTimesteps => _alphasCumprod.Length;
    public IReadOnlyList<float> Betas => _betas;
    public IReadOnlyList<float> AlphasCumprod => _alphasCumprod;

    /// <summary>ᾱ used for a "previous" timestep below 0: 1 when set_alpha_to_one, else ᾱ[0].</summary>
    public float FinalAlphaCumprod { get; }

    /// <summary>ᾱ_t for 0 ≤ t &lt; N.</summary>
    public float AlphaCumprod(long t)
    {
        if (t < 0 || t >= _alphasCumprod.Length)
            throw new ArgumentOutOfRangeException(nameof(t), t, $"timestep must be in [0, {_alphasCumprod.Length})");
        return _alphasCumprod[t];
    }

    /// <summary>ᾱ for a previous timestep: ᾱ[t] when t ≥ 0, else <see cref="FinalAlphaCumprod"/>.</summary>
    public float AlphaCumprodPrev(long prevT) => prevT >= 0 ? AlphaCumprod(prevT) : FinalAlphaCumprod;

    /// <summary>A new float32 CPU tensor [N] of the betas; the caller owns it.</summary>
    public Tensor BetasTensor() => tensor(_betas, ScalarType.Float32);

    /// <summary>A new float32 CPU tensor [N] of ᾱ; the caller owns it.</summary>
    public Tensor AlphasCumprodTensor() => tensor(_alphasCumprod, ScalarType.Float32);

    /// <summary>
    /// x_t = √ᾱ_t·x₀ + √(1−ᾱ_t)·ε (diffusers <c>add_noise</c>). <paramref name="timesteps"/> is an integer tensor
    /// with one entry per batch item (or a single entry); ᾱ is cast to the samples' dtype and device first, as
    /// diffusers does. Returns a new tensor.
    /// </summary>
    public Tensor AddNoise(Tensor originalSamples, Tensor noise, Tensor timesteps)
    {
        using var scope = NewDisposeScope();
        var (sqrtAlpha, sqrtOneMinusAlpha) = Coefficients(timesteps, originalSamples);
        return (sqrtAlpha * originalSamples + sqrtOneMinusAlpha * noise).MoveToOuterDisposeScope();
    }

    /// <summary>v = √ᾱ_t·ε − √(1−ᾱ_t)·x₀ (diffusers <c>get_velocity</c>), the v-prediction training target.</summary>
    public Tensor GetVelocity(Tensor sample, Tensor noise, Tensor timesteps)
    {
        using var scope = NewDisposeScope();
        var (sqrtAlpha, sqrtOneMinusAlpha) = Coefficients(timesteps, sample);
        return (sqrtAlpha * noise - sqrtOneMinusAlpha * sample).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// √ᾱ_t and √(1−ᾱ_t) in <paramref name="like"/>'s dtype, shaped [B, 1, …, 1] to broadcast over it. As in
    /// diffusers, ᾱ is first rounded to that dtype and 1 − ᾱ is rounded to it; the square roots are taken in
    /// float64 and rounded once (= a correctly rounded square root in the target dtype). libtorch's float32
    /// <c>sqrt</c> kernel is not always correctly rounded (1 ulp off on ᾱ[500] with libtorch 2.10 CPU), which
    /// is why the few coefficients are computed here rather than with <c>Tensor.sqrt</c>.
    /// </summary>
    private (Tensor, Tensor) Coefficients(Tensor timesteps, Tensor like)
    {
        if (timesteps.is_floating_point() || timesteps.is_complex() || timesteps.dtype == ScalarType.Bool)
            throw new ArgumentException($"timesteps must be an integer tensor, got {timesteps.dtype}", nameof(timesteps));
        if (!like.is_floating_point())
            throw new ArgumentException($"samples must be floating point, got {like.dtype}", nameof(like));
        var t = timesteps.to(ScalarType.Int64, CPU).flatten().data<long>().ToArray();
        if (t.Length == 0)
            throw new ArgumentException("timesteps is empty", nameof(timesteps));
        foreach (var v in t)
        {
            if (v < 0 || v >= NumTrainTimesteps)
                throw new ArgumentOutOfRangeException(nameof(timesteps), v, $"timesteps must be in [0, {NumTrainTimesteps})");
        }
        var alpha = RoundTo(t.Select(i => (double)_alphasCumprod[i]).ToArray(), like.dtype);
        var oneMinusAlpha = RoundTo(alpha.Select(a => 1 - a).ToArray(), like.dtype);
        var shape = new long[Math.Max(like.dim(), 1)];
        Array.Fill(shape, 1L);
        shape[0] = t.Length;
        return (Coefficient(alpha), Coefficient(oneMinusAlpha));

        Tensor Coefficient(double[] values) =>
            tensor(values.Select(Math.Sqrt).ToArray(), ScalarType.Float64).to(like.dtype).reshape(shape).to(like.device);
    }

    /// <summary>The values rounded to <paramref name="dtype"/> (round to nearest even), back as doubles.</summary>
    private static double[] RoundTo(double[] values, ScalarType dtype)
    {
        using var d = tensor(values, ScalarType.Float64);
        using var rounded = d.to(dtype);
        using var back = rounded.to(ScalarType.Float64);
        return back.data<double>().ToArray();
    }
}
