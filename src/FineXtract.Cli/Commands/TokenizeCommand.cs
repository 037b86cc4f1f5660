using System.CommandLine;
using System.Text.Json;
using FineXtract.Diffusion.Tokenization;

namespace FineXtract.Cli.Commands;

/// <summary><c>finextract tokenize --tokenizer DIR TEXT...</c>: one JSON array of CLIP ids (padded to 77) per text.</summary>
public static class TokenizeCommand
{
    public static Command Create()
    {
        var tokenizer = new Option<string>("--tokenizer")
        {
            Description = "diffusers tokenizer/ folder (vocab.json, merges.txt, ...) or a pipeline folder containing one",
            Required = true,
        };
        var texts = new Argument<string[]>("text")
        {
            Description = "prompts to tokenize, one output line each",
            Arity = ArgumentArity.OneOrMore,
        };
        var command = new Command("tokenize", "Print the CLIP token ids (BOS, BPE, EOS, padded/truncated to 77) of each prompt as a JSON array")
        {
            tokenizer,
            texts,
        };
        command.SetAction(parse =>
        {
            var tok = ClipTokenizer.FromDirectory(parse.GetValue(tokenizer)!);
            var output = parse.InvocationConfiguration.Output;
            foreach (var text in parse.GetValue(texts) ?? [])
                output.WriteLine(JsonSerializer.Serialize(tok.Encode(text)));
            return 0;
        });
        return command;
    }
}
