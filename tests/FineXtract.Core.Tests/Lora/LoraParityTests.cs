using FineXtract.Checkpoints;
using FineXtract.Checkpoints.Lora;
using TorchSharp;
using Xunit.Abstractions;

namespace FineXtract.Tests.Lora;

/// <summary>LoRA files merged into the tiny UNet/text encoder must give what diffusers' loaders gave.</summary>
public class LoraParityTests(ITestOutputHelper log)
{
    private const double Tolerance = 1e-4;

    [Theory]
    [InlineData("kohya_lora.safetensors", 1.0, "out_kohya_scale1", "kohya")]
    [InlineData("kohya_lora.safetensors", 0.5, "out_kohya_scale0.5", "kohya")]
    [InlineData("kohya_lora_full.safetensors", 1.0, "out_kohya_full_scale1", "kohya")]
    [InlineData("diffusers_lora/pytorch_lora_weights.safetensors", 1.0, "out_diffusers_file_scale1", "peft")]
    public void UnetWithLoraMatchesDiffusers(string file, double scale, string expected, string format)
    {
        using var unet = ModelLoader.LoadUnet(Fixtures.Parity);
        using var lora = LoraAdapter.Open(Fixtures.Path_("lora", file));
        Assert.Equal(format, lora.Format);
        int merged = lora.MergeInto(unet, LoraTarget.Unet, scale);
        Assert.True(merged >= 192, $"only {merged} modules merged");
        using var io = SafeTensorsFile.Open(Fixtures.Path_("lora", "io.safetensors"));
        using var _ = torch.inference_mode();
        using var scope = torch.NewDisposeScope();
        var output = unet.forward(io.Load("sample"), io.Load("timestep"), io.Load("encoder_hidden_states"));
        Parity.AssertClose(output, io.Load(expected), Tolerance, $"{file} x{scale}", log);
    }

    [Fact]
    public void TextEncoderWithKohyaLoraMatchesDiffusers()
    {
        using var te = ModelLoader.LoadTextEncoder(Fixtures.Parity);
        using var lora = LoraAdapter.Open(Fixtures.Path_("lora", "kohya_lora_full.safetensors"));
        Assert.Equal(12, lora.MergeInto(te, LoraTarget.TextEncoder, 1.0));
        using var io = SafeTensorsFile.Open(Fixtures.Path_("lora", "io.safetensors"));
        using var _ = torch.inference_mode();
        using var output = te.Forward(io.Load("text_input_ids"));
        using var expected = io.Load("text_last_hidden_state_kohya_full_scale1");
        Parity.AssertClose(output.LastHiddenState, expected, Tolerance, "text encoder + kohya full", log);
    }

    [Fact]
    public void LoraForAnotherBaseIsAClearError()
    {
        // The fixture UNet with a wider first block: the LoRA's shapes no longer fit.
        var cfg = Diffusion.Models.UNet2DConditionConfig.FromJson(Diffusion.Models.ConfigJson.Load(Fixtures.Path_("unet", "config.json")))
            with { BlockOutChannels = [64, 64, 64, 64] };
        using var unet = new Diffusion.Models.UNet2DConditionModel(cfg);
        using var lora = LoraAdapter.Open(Fixtures.Path_("lora", "kohya_lora.safetensors"));
        var e = Assert.Throws<CheckpointFormatException>(() => lora.MergeInto(unet, LoraTarget.Unet, 1.0));
        Assert.Contains("different base", e.Message);
    }

    [Fact]
    public void LycorisIsRejectedAsNotSupportedYet()
    {
        var path = Path.Combine(Path.GetTempPath(), $"loha-{Guid.NewGuid():N}.safetensors");
        try
        {
            using var a = torch.zeros(4, 8);
            SafeTensorsWriter.Write(path, new Dictionary<string, torch.Tensor>
            {
                ["lora_unet_down_blocks_0_attentions_0_proj_in.hada_w1_a"] = a,
                ["lora_unet_down_blocks_0_attentions_0_proj_in.hada_w1_b"] = a,
            });
            var e = Assert.Throws<CheckpointFormatException>(() => LoraAdapter.Open(path));
            Assert.Contains("not supported yet", e.Message);
        }
        finally { File.Delete(path); }
    }
}

public class LoraFormatTests(ITestOutputHelper log)
{
    /// <summary>
    /// The old diffusers attention-processor naming (load_attn_procs) and the peft naming of the same attention LoRA
    /// (built from the fixture's peft file) must merge to the same model.
    /// </summary>
    [Fact]
    public void AttnProcsFormatMatchesThePeftFormat()
    {
        var attnPath = Path.Combine(Path.GetTempPath(), $"attnprocs-{Guid.NewGuid():N}.safetensors");
        var peftPath = Path.Combine(Path.GetTempPath(), $"peft-{Guid.NewGuid():N}.safetensors");
        var attn = new Dictionary<string, torch.Tensor>();
        var peftSubset = new Dictionary<string, torch.Tensor>();
        try
        {
            using (var peft = SafeTensorsFile.Open(Fixtures.Path_("lora", "diffusers_lora", "pytorch_lora_weights.safetensors")))
            {
                foreach (var key in peft.Tensors.Keys)
                {
                    var m = System.Text.RegularExpressions.Regex.Match(key, @"^unet\.(.+\.attn[12])\.to_(q|k|v|out\.0)\.lora_(A|B)\.weight$");
                    if (!m.Success) continue;
                    string proj = m.Groups[2].Value == "out.0" ? "out" : m.Groups[2].Value;
                    attn[$"{m.Groups[1].Value}.processor.to_{proj}_lora.{(m.Groups[3].Value == "A" ? "down" : "up")}.weight"] = peft.Load(key);
                    peftSubset[key] = peft.Load(key);
                }
            }
            SafeTensorsWriter.Write(attnPath, attn);
            SafeTensorsWriter.Write(peftPath, peftSubset);
            using var viaAttnProcs = ModelLoader.LoadUnet(Fixtures.Parity);
            using var viaPeft = ModelLoader.LoadUnet(Fixtures.Parity);
            using (var a = LoraAdapter.Open(attnPath))
            {
                Assert.Equal("diffusers-attn-procs", a.Format);
                Assert.Equal(attn.Count / 2, a.MergeInto(viaAttnProcs, LoraTarget.Unet, 1.0));
            }
            using (var p = LoraAdapter.Open(peftPath))
                Assert.Equal(peftSubset.Count / 2, p.MergeInto(viaPeft, LoraTarget.Unet, 1.0));
            using var io = SafeTensorsFile.Open(Fixtures.Path_("lora", "io.safetensors"));
            using var _ = torch.inference_mode();
            using var scope = torch.NewDisposeScope();
            var outAttn = viaAttnProcs.forward(io.Load("sample"), io.Load("timestep"), io.Load("encoder_hidden_states"));
            var outPeft = viaPeft.forward(io.Load("sample"), io.Load("timestep"), io.Load("encoder_hidden_states"));
            var outBase = io.Load("out_base");
            Assert.True(Parity.RelativeError(outAttn, outBase) > 1e-3, "the attn-procs LoRA was not applied");
            Parity.AssertClose(outAttn, outPeft, 1e-6, "attn-procs vs peft naming", log);
        }
        finally
        {
            foreach (var t in attn.Values.Concat(peftSubset.Values)) t.Dispose();
            File.Delete(attnPath);
            File.Delete(peftPath);
        }
    }
}
