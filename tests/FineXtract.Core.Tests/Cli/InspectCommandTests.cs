using System.CommandLine;
using System.Text.Json.Nodes;
using FineXtract.Cli;
using FineXtract.Cli.Commands;

namespace FineXtract.Tests.Cli;

/// <summary>`finextract inspect`, run in-process through the same runner as Program.cs.</summary>
public sealed class InspectCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fx-inspect-cli-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        var root = new RootCommand("finextract (test)");
        foreach (var command in CommandCatalog.All())
            root.Subcommands.Add(command);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await CliRunner.RunAsync(root, args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static void AssertOneLineUserError((int Code, string Out, string Err) r, string fragment)
    {
        Assert.Equal(CliRunner.UserError, r.Code);
        Assert.Equal("", r.Out);
        var lines = r.Err.TrimEnd('\r', '\n').Split('\n');
        var line = Assert.Single(lines);
        Assert.StartsWith("error: ", line);
        Assert.Contains(fragment, line, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(" at FineXtract", r.Err);
        Assert.DoesNotContain("Exception", r.Err);
    }

    [Fact]
    public async Task PrintsIndentedJsonForAKohyaLora()
    {
        var path = Fixtures.Path_("lora", "kohya_lora.safetensors");
        var r = await Run("inspect", path);
        Assert.Equal(0, r.Code);
        Assert.Equal("", r.Err);
        Assert.Contains("\n  \"layout\": \"kohya-lora\"", r.Out.ReplaceLineEndings("\n"));
        var json = JsonNode.Parse(r.Out)!;
        Assert.Equal(path, json["path"]!.GetValue<string>());
        Assert.Equal("safetensors", json["format"]!.GetValue<string>());
        Assert.Equal("sd1", json["baseModel"]!["family"]!.GetValue<string>());
        Assert.Equal(10, json["metadata"]!["ss_tag_frequency"]!["10_sks dog"]!["sks dog"]!.GetValue<int>());
        Assert.Equal(10, json["hashes"]!["autoV2"]!.GetValue<string>().Length);
    }

    [Fact]
    public async Task PrintsAFolderReport()
    {
        var r = await Run("inspect", Fixtures.Parity);
        Assert.Equal(0, r.Code);
        var json = JsonNode.Parse(r.Out)!;
        Assert.Equal("diffusers-folder", json["format"]!.GetValue<string>());
        Assert.Equal("StableDiffusionPipeline", json["pipeline"]!["className"]!.GetValue<string>());
    }

    [Fact]
    public async Task UnknownLayoutIsStillAReport()
    {
        var r = await Run("inspect", Fixtures.Path_("scheduler", "reference.safetensors"));
        Assert.Equal(0, r.Code);
        Assert.Equal("unknown", JsonNode.Parse(r.Out)!["layout"]!.GetValue<string>());
    }

    [Fact]
    public async Task MissingFile() =>
        AssertOneLineUserError(await Run("inspect", Path.Combine(_dir, "missing.safetensors")), "no such file");

    [Fact]
    public async Task TruncatedFile()
    {
        var source = File.ReadAllBytes(Fixtures.Path_("unet", "diffusion_pytorch_model.safetensors"));
        var path = Path.Combine(_dir, "cut.safetensors");
        File.WriteAllBytes(path, source[..(source.Length / 3)]);
        AssertOneLineUserError(await Run("inspect", path), "truncated");
    }

    [Fact]
    public async Task PickleFile()
    {
        var path = Path.Combine(_dir, "model.ckpt");
        File.WriteAllBytes(path, [(byte)'P', (byte)'K', 3, 4, 0, 0, 0, 0]);
        AssertOneLineUserError(await Run("inspect", path), "arbitrary code");
    }

    [Fact]
    public async Task GarbageFile()
    {
        var path = Path.Combine(_dir, "garbage.safetensors");
        File.WriteAllText(path, "this is not a model at all, just some text");
        AssertOneLineUserError(await Run("inspect", path), path);
    }

    [Fact]
    public async Task FolderThatIsNotAModel() =>
        AssertOneLineUserError(await Run("inspect", _dir), "not a diffusers folder");
}
