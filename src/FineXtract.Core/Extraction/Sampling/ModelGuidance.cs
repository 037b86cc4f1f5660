using FineXtract.Diffusion.Models;
using static TorchSharp.torch;

namespace FineXtract.Extraction.Sampling;

/// <summary>Text conditioning for one batch: caption c and empty prompt ∅, as each model's text encoder sees them.</summary>
public sealed record PromptEmbeddings(Tensor PretrainedEmpty, Tensor PretrainedCaption, Tensor FineTunedEmpty, Tensor FineTunedCaption);

/// <summary>
/// The guidance formula: one noise prediction from the pretrained and fine-tuned UNets. Every method costs two UNet
/// evaluations per step except Direct (one).
/// <code>
/// FineXtract: ε = ε_pre(x,∅) + w·(ε_ft(x,c) − ε_pre(x,∅)) + k·ε_pre(x,∅)   (and its same-caption / caption-free forms)
/// CFG:        ε = ε_ft(x,∅)  + w·(ε_ft(x,c) − ε_ft(x,∅))
/// Direct:     ε = ε_ft(x,c)
/// </code>
/// </summary>
public sealed class ModelGuidance(UNet2DConditionModel pretrained, UNet2DConditionModel fineTuned, GuidanceSettings settings)
{
    public GuidanceSettings Settings { get; } = settings;

    public Tensor Predict(Tensor latents, long timestep, PromptEmbeddings prompts)
    {
        using var scope = NewDisposeScope();
        using var t = tensor(timestep);
        double w = Settings.Scale, k = Settings.FixTerm;
        Tensor eps;
        switch (Settings.Method)
        {
            case ExtractionMethod.FineXtract:
            {
                var (preContext, ftContext) = Settings.Variant switch
                {
                    GuidanceVariant.SameCaption => (prompts.PretrainedCaption, prompts.FineTunedCaption),
                    GuidanceVariant.CaptionFree => (prompts.PretrainedEmpty, prompts.FineTunedEmpty),
                    _ => (prompts.PretrainedEmpty, prompts.FineTunedCaption),
                };
                var pre = pretrained.forward(latents, t, preContext);
                var ft = fineTuned.forward(latents, t, ftContext);
                eps = pre + w * (ft - pre);
                if (k != 0) eps = eps + k * pre;
                break;
            }
            case ExtractionMethod.Cfg:
            {
                // One batched call, as diffusers' pipeline does: [∅ × B, c × B].
                var both = fineTuned.forward(cat([latents, latents]), t, cat([prompts.FineTunedEmpty, prompts.FineTunedCaption]));
                var parts = both.chunk(2);
                eps = parts[0] + w * (parts[1] - parts[0]);
                break;
            }
            default:
                eps = fineTuned.forward(latents, t, prompts.FineTunedCaption);
                break;
        }
        return eps.MoveToOuterDisposeScope();
    }
}
