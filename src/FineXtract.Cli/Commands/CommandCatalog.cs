using System.CommandLine;

namespace FineXtract.Cli.Commands;

/// <summary>Every verb of the CLI, one class per verb in this folder.</summary>
public static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return DemoCommand.Create();
        yield return ExtractCommand.Create();
        yield return EvaluateCommand.Create();
        yield return ReproduceCommand.Create();
        yield return PromptsCommand.Create();
        yield return ClusterCommand.Create();
        yield return EmbedCommand.Create();
        yield return InspectCommand.Create();
        yield return ForwardCommand.Create();
        yield return TokenizeCommand.Create();
        yield return TrainCommand.Create();
        yield return BenchCommand.Create();
        yield return SiloCommand.Create();
        yield return CampaignCommand.Create();
    }
}
