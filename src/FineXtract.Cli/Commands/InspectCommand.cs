using System.CommandLine;
using FineXtract.Checkpoints;

namespace FineXtract.Cli.Commands;

/// <summary>
/// <c>finextract inspect FILE_OR_DIR</c>: prints what a checkpoint is (format, layout, base model, EMA, dtypes,
/// counts, hashes, decoded kohya metadata) as indented JSON. An unrecognised key layout is still a report
/// (layout "unknown", exit 0); a file that cannot be read is a one-line error (exit 2).
/// </summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path")
        {
            Description = "A .safetensors checkpoint / LoRA, or a diffusers folder (with model_index.json or config.json)",
        };
        var command = new Command("inspect", "Describe a checkpoint or diffusers folder as JSON: layout, base model, hashes, metadata");
        command.Arguments.Add(path);
        command.SetAction((parseResult, cancellationToken) =>
        {
            var report = CheckpointInspector.Inspect(parseResult.GetValue(path)!, cancellationToken);
            var output = parseResult.InvocationConfiguration.Output;
            output.WriteLine(report.ToJson());
            output.Flush();
            return Task.FromResult(0);
        });
        return command;
    }
}
