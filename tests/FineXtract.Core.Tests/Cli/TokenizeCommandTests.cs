using System.CommandLine;
using System.Text.Json;
using FineXtract.Cli;
using FineXtract.Cli.Commands;

namespace FineXtract.Tests.Cli;

public class TokenizeCommandTests
{
    private static RootCommand BuildRoot()
    {
        // As Program.cs does.
        var root = new RootCommand("finextract");
        foreach (var command in CommandCatalog.All())
            root.Subcommands.Add(command);
        return root;
    }

    [Fact]
    public async Task PrintsOnePaddedJsonArrayPerText()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await CliRunner.RunAsync(BuildRoot(),
            ["tokenize", "--tokenizer", Fixtures.Path_("tokenizer"), "sks dog", "art style of claude monet"], stdout, stderr);

        Assert.Equal(0, code);
        Assert.Equal("", stderr.ToString());
        var lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        var sks = JsonSerializer.Deserialize<long[]>(lines[0])!;
        Assert.Equal(77, sks.Length);
        Assert.Equal(new long[] { 49406, 48136, 1929, 49407 }, sks[..4]);
        Assert.All(sks[4..], id => Assert.Equal(49407, id));
        Assert.Equal(new long[] { 49406, 794, 1844, 539, 17461, 24499, 49407 }, JsonSerializer.Deserialize<long[]>(lines[1])![..7]);
    }

    [Fact]
    public async Task MissingTokenizerFolderIsOneLineUserError()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var missing = Path.Combine(Path.GetTempPath(), "finextract-missing-" + Guid.NewGuid().ToString("N"));
        var code = await CliRunner.RunAsync(BuildRoot(), ["tokenize", "--tokenizer", missing, "sks dog"], stdout, stderr);

        Assert.Equal(CliRunner.UserError, code);
        Assert.Equal(2, code);
        Assert.Equal("", stdout.ToString());
        var err = stderr.ToString().TrimEnd('\r', '\n');
        Assert.DoesNotContain('\n', err);
        Assert.StartsWith("error: ", err);
        Assert.Contains(missing, err);
    }
}
