using FineXtract.Checkpoints;
using TorchSharp;
using Xunit.Abstractions;

namespace FineXtract.Tests.Models;

/// <summary>
/// Loads every fixture model through the same paths users use (diffusers folder, component folder, LDM single
/// file) and checks fp32 agreement with diffusers/transformers outputs (≤ 1e-4 of the output's scale).
/// </summary>
public class ModelParityTests(ITestOutputHelper log)
{
    private const double Tolerance = 1e-4;

    public static TheoryData<string, string?> UnetSources => new()
    {
        { "", null },                                       // pipeline folder (model_index.json)
        { "unet", null },                                   // component folder
        { "unet/diffusion_pytorch_model.safetensors", null }, // weights file with config.json beside it
        { "unet/ldm_unet.safetensors", "unet/config.json" },  // LDM single file + --config
        { "unet/ldm_unet.safetensors", null },              // LDM single file, config inferred from shapes
    };

    [Theory]
    [MemberData(nameof(UnetSources))]
    public void UnetMatchesDiffusers(string model, string? config)
    {
        using var unet = ModelLoader.LoadUnet(Fixtures.Path_(model), config is null ? null : Fixtures.Path_(config));
        using var io = SafeTensorsFile.Open(Fixtures.Path_("unet", "io.safetensors"));
        using var _ = torch.inference_mode();
        using var scope = torch.NewDisposeScope();
        var ehs = io.Load("encoder_hidden_states");
        Parity.AssertClose(unet.forward(io.Load("sample"), io.Load("timestep"), ehs), io.Load("out"), Tolerance, $"unet[{model}] 8x8", log);
        Parity.AssertClose(unet.forward(io.Load("sample"), io.Load("timestep_scalar"), ehs), io.Load("out_timestep_scalar"), Tolerance, $"unet[{model}] scalar t", log);
        Parity.AssertClose(unet.forward(io.Load("sample_16x24"), io.Load("timestep_16x24"), io.Load("encoder_hidden_states_16x24")),
            io.Load("out_16x24"), Tolerance, $"unet[{model}] 16x24", log);
    }

    public static TheoryData<string> VaeSources => new() { "", "vae", "vae/ldm_vae.safetensors" };

    [Theory]
    [MemberData(nameof(VaeSources))]
    public void VaeMatchesDiffusers(string model)
    {
        using var vae = ModelLoader.LoadVae(Fixtures.Path_(model));
        using var io = SafeTensorsFile.Open(Fixtures.Path_("vae", "io.safetensors"));
        using var _ = torch.inference_mode();
        using var scope = torch.NewDisposeScope();
        var (mean, logvar) = vae.Encode(io.Load("image"));
        Parity.AssertClose(mean, io.Load("latent_mean"), Tolerance, $"vae[{model}] mean", log);
        Parity.AssertClose(logvar, io.Load("latent_logvar"), Tolerance, $"vae[{model}] logvar", log);
        Parity.AssertClose(vae.Decode(io.Load("latent_mean")), io.Load("decoded"), Tolerance, $"vae[{model}] decode", log);
        Parity.AssertClose(vae.Decode(io.Load("z_nonsquare")), io.Load("decoded_nonsquare"), Tolerance, $"vae[{model}] decode 6x4", log);
    }

    public static TheoryData<string> TextEncoderSources => new() { "", "text_encoder", "text_encoder/model.safetensors" };

    [Theory]
    [MemberData(nameof(TextEncoderSources))]
    public void TextEncoderMatchesTransformers(string model)
    {
        using var te = ModelLoader.LoadTextEncoder(Fixtures.Path_(model));
        using var io = SafeTensorsFile.Open(Fixtures.Path_("text_encoder", "io.safetensors"));
        using var _ = torch.inference_mode();
        using var scope = torch.NewDisposeScope();
        var output = te.Forward(io.Load("input_ids"));
        Parity.AssertClose(output.LastHiddenState, io.Load("last_hidden_state"), Tolerance, $"text[{model}] last_hidden_state", log);
        Parity.AssertClose(output.PooledOutput, io.Load("pooler_output"), Tolerance, $"text[{model}] pooler_output", log);
        var hidden = io.Load("hidden_states");
        for (int i = 0; i < hidden.shape[0]; i++)
            Parity.AssertClose(output.HiddenStates[i], hidden[i], Tolerance, $"text[{model}] hidden_states[{i}]", log);
    }
}
