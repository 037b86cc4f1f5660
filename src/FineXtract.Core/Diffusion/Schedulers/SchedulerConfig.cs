using FineXtract.Diffusion.Models;
using System.Globalization;

namespace FineXtract.Diffusion.Schedulers;

/// <summary>How the training betas are laid out over the training timesteps.</summary>
public enum BetaSchedule
{
    /// <summary><c>linspace(beta_start, beta_end, N)</c> in float32.</summary>
    Linear,
    /// <summary><c>linspace(√beta_start, √beta_end, N)²</c> in float32 (Stable Diffusion).</summary>
    ScaledLinear,
}

/// <summary>What the model predicts.</summary>
public enum PredictionType
{
    /// <summary>The added noise ε (SD 1.x, SD 2.x base).</summary>
    Epsilon,
    /// <summary>The velocity v = √ᾱ·ε − √(1−ᾱ)·x₀ (SD 2.x 768-v).</summary>
    VPrediction,
}

/// <summary>How the inference timesteps are picked from the training timesteps.</summary>
public enum TimestepSpacing
{
    /// <summary><c>arange(S)·(N//S) + steps_offset</c>, descending (SD 1.x default).</summary>
    Leading,
    /// <summary><c>round(arange(N, 0, −N/S)) − 1</c>, descending.</summary>
    Trailing,
    /// <summary><c>round(linspace(0, N−1, S))</c>, descending.</summary>
    Linspace,
}

/// <summary>
/// The subset of a diffusers <c>scheduler_config.json</c> that the DDIM and PNDM schedulers and the training
/// noise schedule use. Keys that are absent take <b>Stable Diffusion 1.x values</b> (those of
/// CompVis/stable-diffusion-v1-4's scheduler config), not the diffusers class defaults: scaled_linear betas from
/// 0.00085 to 0.012 over 1000 steps, steps_offset 1, set_alpha_to_one false, clip_sample false, epsilon prediction,
/// leading spacing, skip_prk_steps true. Unknown keys are ignored; features this port does not implement
/// (thresholding, zero-SNR rescaling, other beta schedules or prediction types) are refused with a
/// <see cref="FineXtractException"/> rather than silently ignored.
/// </summary>
public sealed record SchedulerConfig
{
    /// <summary>diffusers' <c>_class_name</c> (e.g. DDIMScheduler, PNDMScheduler); null when the file has none.</summary>
    public string? ClassName { get; init; }
    public int NumTrainTimesteps { get; init; } = 1000;
    public double BetaStart { get; init; } = 0.00085;
    public double BetaEnd { get; init; } = 0.012;
    public BetaSchedule BetaSchedule { get; init; } = BetaSchedule.ScaledLinear;
    /// <summary>Explicit betas (diffusers' <c>trained_betas</c>); when set they replace the beta schedule.</summary>
    public IReadOnlyList<double>? TrainedBetas { get; init; }
    public int StepsOffset { get; init; } = 1;
    /// <summary>When false the "previous" ᾱ past t = 0 is ᾱ[0] (SD 1.x); when true it is 1.</summary>
    public bool SetAlphaToOne { get; init; }
    public bool ClipSample { get; init; }
    public double ClipSampleRange { get; init; } = 1.0;
    public PredictionType PredictionType { get; init; } = PredictionType.Epsilon;
    public TimestepSpacing TimestepSpacing { get; init; } = TimestepSpacing.Leading;
    /// <summary>PNDM only: skip the Runge-Kutta warm-up and run pure PLMS (SD 1.x default).</summary>
    public bool SkipPrkSteps { get; init; } = true;

    /// <summary>The SD v1.4/v1.5 scheduler config (PNDMScheduler with the values above).</summary>
    public static SchedulerConfig StableDiffusion1 { get; } = new() { ClassName = "PNDMScheduler" };

    /// <summary>Reads a diffusers <c>scheduler_config.json</c>.</summary>
    public static SchedulerConfig Load(string path) => FromJson(ConfigJson.Load(path));

    /// <summary>Parses the JSON text of a diffusers scheduler config; <paramref name="source"/> names it in errors.</summary>
    public static SchedulerConfig Parse(string json, string source = "scheduler config") => FromJson(ConfigJson.Parse(json, source));

    public static SchedulerConfig FromJson(ConfigJson r)
    {
        string source = r.Source;
        var d = new SchedulerConfig();
        var config = new SchedulerConfig
        {
            ClassName = r.String("_class_name"),
            NumTrainTimesteps = r.Int("num_train_timesteps", d.NumTrainTimesteps),
            BetaStart = r.Double("beta_start", d.BetaStart),
            BetaEnd = r.Double("beta_end", d.BetaEnd),
            BetaSchedule = r.String("beta_schedule") switch
            {
                null => d.BetaSchedule,
                "linear" => BetaSchedule.Linear,
                "scaled_linear" => BetaSchedule.ScaledLinear,
                var s => throw new FineXtractException(
                    $"{source}: beta_schedule '{s}' is not supported (supported: linear, scaled_linear)"),
            },
            TrainedBetas = r.Doubles("trained_betas"),
            StepsOffset = r.Int("steps_offset", d.StepsOffset),
            SetAlphaToOne = r.Bool("set_alpha_to_one", d.SetAlphaToOne),
            ClipSample = r.Bool("clip_sample", d.ClipSample),
            ClipSampleRange = r.Double("clip_sample_range", d.ClipSampleRange),
            PredictionType = r.String("prediction_type") switch
            {
                null => d.PredictionType,
                "epsilon" => PredictionType.Epsilon,
                "v_prediction" => PredictionType.VPrediction,
                var s => throw new FineXtractException(
                    $"{source}: prediction_type '{s}' is not supported (supported: epsilon, v_prediction)"),
            },
            TimestepSpacing = r.String("timestep_spacing") switch
            {
                null => d.TimestepSpacing,
                "leading" => TimestepSpacing.Leading,
                "trailing" => TimestepSpacing.Trailing,
                "linspace" => TimestepSpacing.Linspace,
                var s => throw new FineXtractException(
                    $"{source}: timestep_spacing '{s}' is not supported (supported: leading, trailing, linspace)"),
            },
            SkipPrkSteps = r.Bool("skip_prk_steps", d.SkipPrkSteps),
        };
        if (r.BoolOrNull("thresholding") == true)
            throw new FineXtractException($"{source}: thresholding (dynamic thresholding) is not supported");
        if (r.BoolOrNull("rescale_betas_zero_snr") == true)
            throw new FineXtractException($"{source}: rescale_betas_zero_snr is not supported");
        config.Validate(source);
        return config;
    }

    /// <summary>Throws a <see cref="FineXtractException"/> naming <paramref name="source"/> if a value is out of range.</summary>
    public void Validate(string source = "scheduler config")
    {
        if (NumTrainTimesteps < 1)
            throw new FineXtractException($"{source}: num_train_timesteps must be at least 1, got {NumTrainTimesteps}");
        if (TrainedBetas is { } tb)
        {
            if (tb.Count != NumTrainTimesteps)
                throw new FineXtractException(
                    $"{source}: trained_betas has {tb.Count} values but num_train_timesteps is {NumTrainTimesteps}");
            for (var i = 0; i < tb.Count; i++)
                CheckBeta(tb[i], $"trained_betas[{i}]");
        }
        else
        {
            CheckBeta(BetaStart, "beta_start");
            CheckBeta(BetaEnd, "beta_end");
        }
        if (StepsOffset < 0)
            throw new FineXtractException($"{source}: steps_offset must be >= 0, got {StepsOffset}");
        if (!(ClipSampleRange > 0) || double.IsInfinity(ClipSampleRange))
            throw new FineXtractException($"{source}: clip_sample_range must be a positive number, got {Fmt(ClipSampleRange)}");

        void CheckBeta(double b, string name)
        {
            if (!(b >= 0 && b < 1))
                throw new FineXtractException($"{source}: {name} must be in [0, 1), got {Fmt(b)}");
        }
    }

    /// <summary>The name diffusers writes for <see cref="PredictionType"/>.</summary>
    public static string Name(PredictionType p) => p == PredictionType.Epsilon ? "epsilon" : "v_prediction";

    private static string Fmt(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
