using FineXtract.Checkpoints;
using FineXtract.Checkpoints.Lora;
using FineXtract.Diffusion.Models;
using FineXtract.Diffusion.Schedulers;
using FineXtract.Extraction.Sampling;
using TorchSharp;
using Xunit.Abstractions;

namespace FineXtract.Tests.Sampling;

/// <summary>
/// The official FineXtract sampling function and the CFG baseline, run on the tiny UNet and the same UNet + LoRA,
/// with both the DDIM and the PNDM timestep lists: our faithful loop must reproduce their final latents.
/// </summary>
public sealed class OfficialLoopParityTests(ITestOutputHelper log, OfficialLoopParityTests.Models models) : IClassFixture<OfficialLoopParityTests.Models>
{
    private const double Tolerance = 2e-4;

    public sealed class Models : IDisposable
    {
        public UNet2DConditionModel Pretrained { get; } = ModelLoader.LoadUnet(Fixtures.Parity);
        public UNet2DConditionModel FineTuned { get; }
        public SafeTensorsFile Io { get; } = SafeTensorsFile.Open(Fixtures.Path_("finextract", "io.safetensors"));

        public Models()
        {
            FineTuned = ModelLoader.LoadUnet(Fixtures.Parity);
            using var lora = LoraAdapter.Open(Fixtures.Path_("lora", "diffusers_lora", "pytorch_lora_weights.safetensors"));
            lora.MergeInto(FineTuned, LoraTarget.Unet, 1.0);
        }

        public void Dispose()
        {
            Pretrained.Dispose();
            FineTuned.Dispose();
            Io.Dispose();
        }
    }

    private readonly Models _m = models;

    private PromptEmbeddings Prompts()
    {
        var empty = _m.Io.Load("empty_prompt_embeds");
        var caption = _m.Io.Load("prompt_embeds");
        return new PromptEmbeddings(empty, caption, empty, caption);
    }

    private static SchedulerConfig Config(string scheduler) =>
        SchedulerConfig.Load(Fixtures.Path_("scheduler", "scheduler_config.json")) with { ClassName = scheduler };

    [Theory]
    [InlineData("DDIMScheduler", "official.ddim")]
    [InlineData("PNDMScheduler", "official.pndm")]
    public void FaithfulFineXtractLoopMatchesOfficialCode(string scheduler, string prefix)
    {
        using var scope = torch.NewDisposeScope();
        var guidance = new ModelGuidance(_m.Pretrained, _m.FineTuned, GuidanceSettings.FineXtractFullFineTune);
        var visited = new List<int>();
        var final = DenoisingLoop.Run(guidance, _m.Io.Load("start_latents"), Prompts(), Config(scheduler), SamplerMode.Faithful, 10, visited.Add);
        Assert.Equal(10, visited.Count);
        Parity.AssertClose(final, _m.Io.Load($"{prefix}.final_latents"), Tolerance, $"{prefix} final latents", log);
    }

    [Fact]
    public void FirstStepPredictionsMatchTheRecordedUNetOutputs()
    {
        using var scope = torch.NewDisposeScope();
        using var _ = torch.inference_mode();
        var x = _m.Io.Load("official.pndm.step_latents_in")[0];
        var t = torch.tensor(901L);
        Parity.AssertClose(_m.Pretrained.forward(x, t, _m.Io.Load("empty_prompt_embeds")), _m.Io.Load("official.pndm.noise_pred_pretrained_uncond")[0], 1e-4, "ε_pre(∅)", log);
        Parity.AssertClose(_m.FineTuned.forward(x, t, _m.Io.Load("prompt_embeds")), _m.Io.Load("official.pndm.noise_pred_finetuned_cond")[0], 1e-4, "ε_ft(c)", log);
    }

    [Theory]
    [InlineData("DDIMScheduler", "baseline_cfg.ddim")]
    [InlineData("PNDMScheduler", "baseline_cfg.pndm")]
    public void FaithfulCfgBaselineMatchesDiffusersPipeline(string scheduler, string prefix)
    {
        using var scope = torch.NewDisposeScope();
        var guidance = new ModelGuidance(_m.Pretrained, _m.FineTuned, GuidanceSettings.CfgBaseline);
        var final = DenoisingLoop.Run(guidance, _m.Io.Load("start_latents"), Prompts(), Config(scheduler), SamplerMode.Faithful, 10);
        Parity.AssertClose(final, _m.Io.Load($"{prefix}.final_latents"), Tolerance, $"{prefix} final latents", log);
    }

    [Fact]
    public void CleanDdimModeDiffersFromFaithfulOnlyByTheSchedule()
    {
        using var scope = torch.NewDisposeScope();
        var guidance = new ModelGuidance(_m.Pretrained, _m.FineTuned, GuidanceSettings.FineXtractFullFineTune);
        var start = _m.Io.Load("start_latents");
        var faithfulDdim = DenoisingLoop.Run(guidance, start, Prompts(), Config("DDIMScheduler"), SamplerMode.Faithful, 10);
        var clean = DenoisingLoop.Run(guidance, start, Prompts(), Config("PNDMScheduler"), SamplerMode.Ddim, 10);
        // Same timesteps 901..1; the only difference is the clean sampler's final step from t=1 to ᾱ₀.
        double rel = Parity.RelativeError(clean, faithfulDdim);
        log.WriteLine($"clean DDIM vs faithful DDIM list: {rel:E2}");
        Assert.InRange(rel, 1e-6, 0.1);
    }
}
