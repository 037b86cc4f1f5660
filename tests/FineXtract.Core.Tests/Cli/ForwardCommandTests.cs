using FineXtract.Checkpoints;
using TorchSharp;
using Xunit.Abstractions;

namespace FineXtract.Tests.Cli;

public class ForwardCommandTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fx-forward-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string Inputs(params (string Name, string File, string Key)[] tensors)
    {
        var path = Path.Combine(_dir, $"in-{Guid.NewGuid():N}.safetensors");
        var loaded = new Dictionary<string, torch.Tensor>();
        foreach (var (name, file, key) in tensors)
        {
            using var f = SafeTensorsFile.Open(Fixtures.Path_(file));
            loaded[name] = f.Load(key);
        }
        SafeTensorsWriter.Write(path, loaded);
        foreach (var t in loaded.Values) t.Dispose();
        return path;
    }

    private void AssertOutput(string outPath, string name, string refFile, string refKey)
    {
        using var o = SafeTensorsFile.Open(outPath);
        using var r = SafeTensorsFile.Open(Fixtures.Path_(refFile));
        using var actual = o.Load(name);
        using var expected = r.Load(refKey);
        Parity.AssertClose(actual, expected, 1e-4, $"forward {name} vs {refFile}:{refKey}", log);
    }

    [Theory]
    [InlineData("unet", null)]
    [InlineData("unet/ldm_unet.safetensors", "unet/config.json")]
    public async Task UnetThroughCli(string model, string? config)
    {
        var input = Inputs(("sample", "unet/io.safetensors", "sample"), ("timestep", "unet/io.safetensors", "timestep"),
            ("encoder_hidden_states", "unet/io.safetensors", "encoder_hidden_states"));
        var output = Path.Combine(_dir, "out.safetensors");
        var args = new List<string> { "forward", "--component", "unet", "--model", Fixtures.Path_(model), "--inputs", input, "--out", output };
        if (config is not null) args.AddRange(["--config", Fixtures.Path_(config)]);
        var (code, _, err) = await CliHarness.RunAsync([.. args]);
        Assert.True(code == 0, err);
        AssertOutput(output, "sample", "unet/io.safetensors", "out");
    }

    [Fact]
    public async Task UnetWithLoraThroughCli()
    {
        var input = Inputs(("sample", "lora/io.safetensors", "sample"), ("timestep", "lora/io.safetensors", "timestep"),
            ("encoder_hidden_states", "lora/io.safetensors", "encoder_hidden_states"));
        var output = Path.Combine(_dir, "out.safetensors");
        var (code, _, err) = await CliHarness.RunAsync("forward", "--component", "unet", "--model", Fixtures.Parity,
            "--lora", Fixtures.Path_("lora", "kohya_lora.safetensors"), "--lora-scale", "0.5", "--inputs", input, "--out", output);
        Assert.True(code == 0, err);
        AssertOutput(output, "sample", "lora/io.safetensors", "out_kohya_scale0.5");
    }

    [Fact]
    public async Task VaeAndTextEncoderThroughCli()
    {
        var encIn = Inputs(("sample", "vae/io.safetensors", "image"));
        var decIn = Inputs(("latent", "vae/io.safetensors", "latent_mean"));
        var txtIn = Inputs(("input_ids", "text_encoder/io.safetensors", "input_ids"));
        var enc = Path.Combine(_dir, "enc.safetensors");
        var dec = Path.Combine(_dir, "dec.safetensors");
        var txt = Path.Combine(_dir, "txt.safetensors");
        Assert.Equal(0, (await CliHarness.RunAsync("forward", "--component", "vae-encode", "--model", Fixtures.Path_("vae", "ldm_vae.safetensors"), "--inputs", encIn, "--out", enc)).ExitCode);
        Assert.Equal(0, (await CliHarness.RunAsync("forward", "--component", "vae-decode", "--model", Fixtures.Path_("vae"), "--inputs", decIn, "--out", dec)).ExitCode);
        Assert.Equal(0, (await CliHarness.RunAsync("forward", "--component", "text-encoder", "--model", Fixtures.Parity, "--inputs", txtIn, "--out", txt)).ExitCode);
        AssertOutput(enc, "mean", "vae/io.safetensors", "latent_mean");
        AssertOutput(enc, "logvar", "vae/io.safetensors", "latent_logvar");
        AssertOutput(dec, "sample", "vae/io.safetensors", "decoded");
        AssertOutput(txt, "last_hidden_state", "text_encoder/io.safetensors", "last_hidden_state");
        AssertOutput(txt, "pooler_output", "text_encoder/io.safetensors", "pooler_output");
    }

    [Theory]
    [InlineData("missing-model")]
    [InlineData("wrong-component")]
    [InlineData("truncated")]
    [InlineData("pickle")]
    [InlineData("shape-mismatch")]
    [InlineData("unknown-component")]
    public async Task BadInputGivesOneLineErrorAndNonZeroExit(string kind)
    {
        var input = Inputs(("sample", "unet/io.safetensors", "sample"), ("timestep", "unet/io.safetensors", "timestep"),
            ("encoder_hidden_states", "unet/io.safetensors", "encoder_hidden_states"));
        string model = Fixtures.Path_("unet");
        string component = "unet";
        switch (kind)
        {
            case "missing-model": model = Path.Combine(_dir, "nope"); break;
            case "wrong-component": model = Fixtures.Path_("vae"); break;
            case "truncated":
                model = Path.Combine(_dir, "t.safetensors");
                var bytes = File.ReadAllBytes(Fixtures.Path_("unet", "diffusion_pytorch_model.safetensors"));
                File.WriteAllBytes(model, bytes[..(bytes.Length / 2)]);
                break;
            case "pickle":
                model = Path.Combine(_dir, "model.ckpt");
                File.WriteAllBytes(model, [0x50, 0x4B, 3, 4, 0, 0]);
                break;
            case "shape-mismatch":
                input = Inputs(("sample", "vae/io.safetensors", "image"), ("timestep", "unet/io.safetensors", "timestep"),
                    ("encoder_hidden_states", "unet/io.safetensors", "encoder_hidden_states"));
                break;
            case "unknown-component": component = "clip"; break;
        }
        var (code, stdout, stderr) = await CliHarness.RunAsync("forward", "--component", component, "--model", model,
            "--inputs", input, "--out", Path.Combine(_dir, "o.safetensors"));
        log.WriteLine(stderr);
        Assert.NotEqual(0, code);
        Assert.DoesNotContain("   at ", stderr + stdout);
        if (kind != "unknown-component") Assert.Single(stderr.Trim().Split('\n'));
        if (kind == "pickle") Assert.Contains("arbitrary code", stderr);
    }
}
