using System.CommandLine;

namespace FineXtract.Cli.Commands;

/// <summary>Every verb of the CLI, one class per verb in this folder.</summary>
public static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return ForwardCommand.Create();
        yield return BenchCommand.Create();
        yield return ClusterCommand.Create();
    }
}
