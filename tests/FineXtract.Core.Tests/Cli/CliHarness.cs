using System.CommandLine;
using FineXtract.Cli;
using FineXtract.Cli.Commands;

namespace FineXtract.Tests.Cli;

/// <summary>Runs the real CLI in-process and captures what a user would see.</summary>
public static class CliHarness
{
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var root = new RootCommand("finextract");
        foreach (var c in CommandCatalog.All()) root.Subcommands.Add(c);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await CliRunner.RunAsync(root, args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
