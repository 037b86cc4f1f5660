using System.CommandLine;
using System.Text.Json;
using FineXtract.Checkpoints;
using FineXtract.Extraction.Pipeline;
using FineXtract.Extraction.Prompts;

namespace FineXtract.Cli.Commands;

/// <summary><c>finextract prompts</c>: ranked candidates for the training prompt of a fine-tune, with evidence.</summary>
public static class PromptsCommand
{
    public static Command Create()
    {
        var models = new ModelOptions();
        var vocabulary = new Option<int>("--probe-vocabulary") { DefaultValueFactory = _ => new PromptProbeOptions().VocabularyLimit, Description = "How many of the most frequent whole-word tokens the UNet probe scores" };
        var command = new Command("prompts", "Rank candidate training prompts (metadata, text-encoder drift, UNet probe)") { vocabulary };
        models.AddTo(command);
        command.SetAction(parse =>
        {
            var sources = models.Read(parse);
            using var loaded = ExtractionModels.Load(sources);
            var choice = PromptRecovery.Recover(loaded, FineTuneMetadata.Read(sources), new PromptProbeOptions(VocabularyLimit: parse.GetValue(vocabulary)));
            parse.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(new
            {
                chosen = choice.Prompt,
                reason = choice.Reason,
                candidates = choice.Candidates.Select(c => new { prompt = c.Prompt, source = c.Source, score = c.Score, evidence = c.Evidence }),
            }, JsonDefaults.Output));
            return 0;
        });
        return command;
    }
}
