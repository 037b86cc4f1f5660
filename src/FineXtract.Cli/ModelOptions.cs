using System.CommandLine;
using FineXtract.Extraction.Pipeline;

namespace FineXtract.Cli;

/// <summary>The options that name the models of an extraction, shared by extract, prompts and reproduce.</summary>
public sealed class ModelOptions
{
    public Option<string> Base { get; } = new("--base") { Required = true, Description = "Pretrained base: diffusers folder or single-file checkpoint" };
    public Option<string?> FineTuned { get; } = new("--finetuned") { Description = "Full fine-tune: diffusers folder, unet/ folder or single file" };
    public Option<string?> Lora { get; } = new("--lora") { Description = "LoRA .safetensors (kohya, peft or diffusers) applied to the base" };
    public Option<double> LoraScale { get; } = new("--lora-scale") { DefaultValueFactory = _ => 1.0, Description = "LoRA multiplier" };
    public Option<string?> Tokenizer { get; } = new("--tokenizer") { Description = "CLIP tokenizer folder (default: the base's, else the bundled CLIP vocabulary)" };

    public void AddTo(Command command)
    {
        command.Options.Add(Base);
        command.Options.Add(FineTuned);
        command.Options.Add(Lora);
        command.Options.Add(LoraScale);
        command.Options.Add(Tokenizer);
    }

    public ModelSources Read(ParseResult parse)
    {
        var sources = new ModelSources(parse.GetValue(Base)!, parse.GetValue(FineTuned), parse.GetValue(Lora), parse.GetValue(LoraScale), parse.GetValue(Tokenizer));
        sources.Validate();
        return sources;
    }
}
