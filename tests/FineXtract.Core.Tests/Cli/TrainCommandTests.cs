using FineXtract.Checkpoints;
using FineXtract.Checkpoints.Lora;
using FineXtract.Tests.Training;

namespace FineXtract.Tests.Cli;

public class TrainCommandTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "finextract-traincli-" + Guid.NewGuid().ToString("N"));
    private string Csv => Path.Combine(_root, "pretrain", "captions.csv");
    private string Instance => Path.Combine(_root, "instance");
    private string Base => Path.Combine(_root, "base");

    public TrainCommandTests()
    {
        TinyWorld.WriteImages(Path.Combine(_root, "pretrain"), 4, 16, seed: 4);
        File.WriteAllText(Csv, "file,caption,source\nimg0.png,a photo of a cat,p\nimg1.png,a photo of a dog,p\nimg2.png,\"a vase, painted\",art\nimg3.png,a photo of a cat,p\n");
        TinyWorld.WriteImages(Instance, 2, 32, seed: 5);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, true); } catch (IOException) { }
    }

    private static async Task<string> Ok(params string[] args)
    {
        var (code, stdout, stderr) = await CliHarness.RunAsync(args);
        Assert.True(code == 0, $"exit {code}: {stderr}");
        return stdout;
    }

    [Fact]
    public async Task TrainsTheWholeTinyWorld()
    {
        string[] pretrain = ["--captions", Csv, "--preset", "tiny", "--batch", "2", "--out", Base, "--oversample", "art=2"];
        await Ok(["train", "vae", .. pretrain, "--steps", "2", "--crop", "0"]);
        Assert.True(File.Exists(Path.Combine(Base, "vae", "config.json")));
        var stdout = await Ok(["train", "base", .. pretrain, "--steps", "2"]);
        Assert.Contains("trained 2 steps", stdout);
        using (ModelLoader.LoadUnet(Base)) { }

        // Resume extends a finished run; without --resume an existing run is refused.
        var (code, _, err) = await CliHarness.RunAsync(["train", "base", .. pretrain, "--steps", "3"]);
        Assert.Equal(2, code);
        Assert.Contains("--resume", err);
        stdout = await Ok(["train", "base", .. pretrain, "--steps", "3", "--resume"]);
        Assert.Contains("trained 3 steps (this run 1)", stdout);

        string[] finetune = ["--base", Base, "--images", Instance, "--prompt", "sks vase", "--steps-per-image", "1"];
        string db = Path.Combine(_root, "db");
        await Ok(["train", "dreambooth", .. finetune, "--out", db]);
        using (ModelLoader.LoadUnet(db)) { }
        string single = Path.Combine(_root, "db.safetensors");
        await Ok(["train", "dreambooth", .. finetune, "--out", single, "--format", "single-file", "--fp16"]);
        using (ModelLoader.LoadUnet(single)) { }

        string lora = Path.Combine(_root, "lora.safetensors");
        stdout = await Ok(["train", "lora", .. finetune, "--out", lora, "--rank", "4", "--alpha", "4", "--comment", "cli"]);
        Assert.Contains("trained 2 steps", stdout);
        using var adapter = LoraAdapter.Open(lora);
        Assert.Equal("kohya", adapter.Format);
        Assert.Equal("lora", adapter.Metadata["ss_output_name"]);
        Assert.Contains("1_sks vase", adapter.Metadata["ss_tag_frequency"]);
    }

    [Fact]
    public async Task BadArgumentsAreOneLineErrors()
    {
        var (code, _, err) = await CliHarness.RunAsync("train", "lora", "--base", _root, "--images", Instance, "--prompt", "x", "--out", Path.Combine(_root, "l.bin"));
        Assert.Equal(2, code);
        Assert.Contains(".safetensors", err);
        Assert.Single(err.Trim().Split('\n'));

        (code, _, err) = await CliHarness.RunAsync("train", "vae", "--captions", Path.Combine(_root, "missing.csv"), "--out", Base);
        Assert.Equal(2, code);
        Assert.Contains("captions file not found", err);

        (code, _, err) = await CliHarness.RunAsync("train", "base", "--captions", Csv, "--out", Base, "--oversample", "art");
        Assert.Equal(2, code);
        Assert.Contains("SOURCE=N", err);

        (code, _, err) = await CliHarness.RunAsync("train", "dreambooth", "--base", Path.Combine(_root, "nobase"), "--images", Instance, "--prompt", "x", "--out", Path.Combine(_root, "o"));
        Assert.Equal(2, code);
        Assert.Contains("base folder not found", err);
    }
}
