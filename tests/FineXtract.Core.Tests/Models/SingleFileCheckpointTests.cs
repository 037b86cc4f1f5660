using FineXtract.Checkpoints;
using TorchSharp;
using Xunit.Abstractions;

namespace FineXtract.Tests.Models;

/// <summary>
/// A civitai-style single file (UNet + VAE + text encoder in LDM layout), built from the fixture's LDM parts the way
/// diffusers' conversion script lays it out; also fp16, EMA-only and corrupted position_ids variants.
/// </summary>
public class SingleFileCheckpointTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fx-single-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string BuildSingleFile(string name, Func<string, torch.Tensor, (string, torch.Tensor)?> transform)
    {
        var all = new Dictionary<string, torch.Tensor>();
        void Add(string file, string prefix)
        {
            using var f = SafeTensorsFile.Open(Fixtures.Path_(file));
            foreach (var k in f.Tensors.Keys)
            {
                var r = transform(prefix + k, f.Load(k));
                if (r is { } kv) all[kv.Item1] = kv.Item2;
            }
        }
        Add("unet/ldm_unet.safetensors", "");
        Add("vae/ldm_vae.safetensors", "");
        Add("text_encoder/model.safetensors", "cond_stage_model.transformer.");
        using var pos = torch.arange(77, dtype: torch.ScalarType.Float32).unsqueeze(0) - 0.01f; // a merge's corruption
        var r2 = transform("cond_stage_model.transformer.text_model.embeddings.position_ids", pos.clone());
        if (r2 is { } p) all[p.Item1] = p.Item2;
        var path = Path.Combine(_dir, name);
        SafeTensorsWriter.Write(path, all);
        foreach (var t in all.Values) t.Dispose();
        return path;
    }

    private void CheckAllComponents(string path, double tolerance)
    {
        using var _ = torch.inference_mode();
        using var scope = torch.NewDisposeScope();
        using var unet = ModelLoader.LoadUnet(path);
        using var uio = SafeTensorsFile.Open(Fixtures.Path_("unet", "io.safetensors"));
        Parity.AssertClose(unet.forward(uio.Load("sample"), uio.Load("timestep"), uio.Load("encoder_hidden_states")), uio.Load("out"), tolerance, "single-file unet", log);
        using var vae = ModelLoader.LoadVae(path);
        using var vio = SafeTensorsFile.Open(Fixtures.Path_("vae", "io.safetensors"));
        Parity.AssertClose(vae.Decode(vio.Load("latent_mean")), vio.Load("decoded"), tolerance, "single-file vae", log);
        using var te = ModelLoader.LoadTextEncoder(path, Fixtures.Path_("text_encoder", "config.json"));
        using var tio = SafeTensorsFile.Open(Fixtures.Path_("text_encoder", "io.safetensors"));
        Parity.AssertClose(te.Forward(tio.Load("input_ids")).LastHiddenState, tio.Load("last_hidden_state"), tolerance, "single-file text", log);
    }

    [Fact]
    public void Fp32SingleFileLoadsEveryComponent() => CheckAllComponents(BuildSingleFile("sd.safetensors", (k, t) => (k, t)), 1e-4);

    [Fact]
    public void Fp16SingleFileLoadsIntoFp32Modules()
    {
        var path = BuildSingleFile("sd-fp16.safetensors", (k, t) => (k, t.is_floating_point() ? t.to_type(torch.ScalarType.Float16) : t));
        // fp16 rounding of the weights: outputs agree to fp16 precision only.
        CheckAllComponents(path, 2e-2);
    }

    [Fact]
    public void EmaOnlyUnetIsUsedWhenNoRegularWeights()
    {
        var path = BuildSingleFile("sd-ema.safetensors", (k, t) =>
            k.StartsWith("model.diffusion_model.") ? ("model_ema." + k["model.".Length..].Replace(".", ""), t) : (k, t));
        using var unet = ModelLoader.LoadUnet(path, Fixtures.Path_("unet", "config.json"));
        using var io = SafeTensorsFile.Open(Fixtures.Path_("unet", "io.safetensors"));
        using var _ = torch.inference_mode();
        using var scope = torch.NewDisposeScope();
        Parity.AssertClose(unet.forward(io.Load("sample"), io.Load("timestep"), io.Load("encoder_hidden_states")), io.Load("out"), 1e-4, "EMA unet", log);
    }

    [Fact]
    public void WrongBaseNamesTheFirstMismatchingTensor()
    {
        var cfgPath = Path.Combine(_dir, "config.json");
        File.WriteAllText(cfgPath, File.ReadAllText(Fixtures.Path_("unet", "config.json")).Replace("\"cross_attention_dim\": 32", "\"cross_attention_dim\": 64"));
        var e = Assert.Throws<CheckpointFormatException>(() => ModelLoader.LoadUnet(Fixtures.Path_("unet", "ldm_unet.safetensors"), cfgPath));
        log.WriteLine(e.Message);
        Assert.Contains("attn2.to_k.weight", e.Message);
        Assert.Contains("different base model", e.Message);
    }
}
