namespace FineXtract.Extraction.Sampling;

/// <summary>How samples are steered toward the fine-tuning data.</summary>
public enum ExtractionMethod
{
    /// <summary>Model guidance: the fine-tuned prediction extrapolated away from the pretrained one (the paper).</summary>
    FineXtract,
    /// <summary>Baseline: classifier-free guidance inside the fine-tuned model.</summary>
    Cfg,
    /// <summary>Baseline: plain text-to-image with the fine-tuned model (no guidance).</summary>
    Direct,
}

/// <summary>Which pretrained/fine-tuned predictions FineXtract contrasts.</summary>
public enum GuidanceVariant
{
    /// <summary>ε_pre(x,∅) + w·(ε_ft(x,c) − ε_pre(x,∅)) + k·ε_pre(x,∅): model guidance and CFG in one (official default).</summary>
    Conditional,
    /// <summary>ε_pre(x,c) + w·(ε_ft(x,c) − ε_pre(x,c)): both models see the caption.</summary>
    SameCaption,
    /// <summary>ε_pre(x,∅) + w·(ε_ft(x,∅) − ε_pre(x,∅)): no caption at all.</summary>
    CaptionFree,
}

/// <summary>How the denoising loop steps.</summary>
public enum SamplerMode
{
    /// <summary>
    /// What the official code ran: FineXtract uses its hand-written DDIM over the pipeline scheduler's timestep list
    /// (SD v1.4's PNDM list visits 961 twice) with prev_t = max(1, t − 1000/steps), stopping at t = 1; the baselines
    /// use the pipeline scheduler's own step (PNDM/PLMS for SD v1.4).
    /// </summary>
    Faithful,
    /// <summary>Clean DDIM (η = 0, leading spacing) down to t = 0 for every method.</summary>
    Ddim,
}

/// <summary>Guidance parameters. The defaults live here and nowhere else.</summary>
public sealed record GuidanceSettings(ExtractionMethod Method, double Scale, double FixTerm, GuidanceVariant Variant = GuidanceVariant.Conditional)
{
    /// <summary>Official FineXtract defaults: full fine-tune (DreamBooth) w = 3, k = −0.02.</summary>
    public static GuidanceSettings FineXtractFullFineTune { get; } = new(ExtractionMethod.FineXtract, 3.0, -0.02);

    /// <summary>Official FineXtract defaults: LoRA w = 5, k = 0.</summary>
    public static GuidanceSettings FineXtractLora { get; } = new(ExtractionMethod.FineXtract, 5.0, 0.0);

    /// <summary>The official CFG baseline: w = 3 on the fine-tuned model.</summary>
    public static GuidanceSettings CfgBaseline { get; } = new(ExtractionMethod.Cfg, 3.0, 0.0);

    public static GuidanceSettings DirectBaseline { get; } = new(ExtractionMethod.Direct, 1.0, 0.0);

    public static GuidanceSettings Default(ExtractionMethod method, bool lora) => method switch
    {
        ExtractionMethod.FineXtract => lora ? FineXtractLora : FineXtractFullFineTune,
        ExtractionMethod.Cfg => CfgBaseline,
        _ => DirectBaseline,
    };

    /// <summary>UNet evaluations per image per denoising step.</summary>
    public int UNetEvaluationsPerStep => Method == ExtractionMethod.Direct ? 1 : 2;
}

/// <summary>The names used on the command line and in results.json.</summary>
public static class SamplingNames
{
    public static string Of(ExtractionMethod m) => m switch { ExtractionMethod.Cfg => "cfg", ExtractionMethod.Direct => "direct", _ => "finextract" };

    public static string Of(GuidanceVariant v) => v switch { GuidanceVariant.SameCaption => "same-caption", GuidanceVariant.CaptionFree => "caption-free", _ => "conditional" };

    public static string Of(SamplerMode s) => s == SamplerMode.Ddim ? "ddim" : "faithful";

    public static ExtractionMethod Method(string name) => name switch
    {
        "finextract" => ExtractionMethod.FineXtract,
        "cfg" => ExtractionMethod.Cfg,
        "direct" => ExtractionMethod.Direct,
        _ => throw new FineXtractException($"unknown method '{name}' (finextract, cfg, direct)"),
    };

    public static GuidanceVariant Variant(string name) => name switch
    {
        "conditional" => GuidanceVariant.Conditional,
        "same-caption" => GuidanceVariant.SameCaption,
        "caption-free" => GuidanceVariant.CaptionFree,
        _ => throw new FineXtractException($"unknown variant '{name}' (conditional, same-caption, caption-free)"),
    };

    public static SamplerMode Sampler(string name) => name switch
    {
        "faithful" => SamplerMode.Faithful,
        "ddim" => SamplerMode.Ddim,
        _ => throw new FineXtractException($"unknown sampler '{name}' (faithful, ddim)"),
    };
}
