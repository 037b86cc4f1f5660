using System.CommandLine;
using FineXtract.Checkpoints;
using FineXtract.Checkpoints.Lora;
using System.Runtime.InteropServices;
using TorchSharp;

namespace FineXtract.Cli.Commands;

/// <summary>
/// <c>finextract forward</c>: runs one model component on tensors from a safetensors file, for checking parity
/// against another implementation when a checkpoint misbehaves. fp32 on CPU.
/// </summary>
public static class ForwardCommand
{
    private static readonly Dictionary<string, (string[] Inputs, string Help)> Components = new()
    {
        ["unet"] = (["sample", "timestep", "encoder_hidden_states"], "outputs: sample"),
        ["vae-encode"] = (["sample"], "outputs: mean, logvar"),
        ["vae-decode"] = (["latent"], "outputs: sample"),
        ["text-encoder"] = (["input_ids"], "outputs: last_hidden_state, pooler_output"),
    };

    public static Command Create()
    {
        var component = new Option<string>("--component") { Required = true, Description = "unet | vae-encode | vae-decode | text-encoder" };
        component.AcceptOnlyFromAmong([.. Components.Keys]);
        var model = new Option<string>("--model") { Required = true, Description = "Diffusers pipeline or component folder, or a single-file (LDM or diffusers) .safetensors" };
        var config = new Option<string?>("--config") { Description = "config.json for the component (default: the folder's, else inferred from shapes)" };
        var lora = new Option<string?>("--lora") { Description = "LoRA .safetensors (kohya, peft or diffusers) merged into the UNet / text encoder" };
        var loraScale = new Option<double>("--lora-scale") { DefaultValueFactory = _ => 1.0, Description = "LoRA multiplier" };
        var inputs = new Option<string>("--inputs") { Required = true, Description = "Input tensors (.safetensors): unet sample/timestep/encoder_hidden_states; vae-encode sample; vae-decode latent; text-encoder input_ids" };
        var output = new Option<string>("--out") { Required = true, Description = "Output .safetensors" };
        var command = new Command("forward", "Run one model component on given inputs (parity checks)")
        {
            component, model, config, lora, loraScale, inputs, output,
        };
        command.SetAction(parse =>
        {
            Run(parse.GetValue(component)!, parse.GetValue(model)!, parse.GetValue(config), parse.GetValue(lora),
                parse.GetValue(loraScale), parse.GetValue(inputs)!, parse.GetValue(output)!);
            return 0;
        });
        return command;
    }

    public static void Run(string component, string modelPath, string? configPath, string? loraPath, double loraScale,
        string inputsPath, string outputPath)
    {
        using var inputs = SafeTensorsFile.Open(inputsPath);
        foreach (var name in Components[component].Inputs)
            if (!inputs.Tensors.ContainsKey(name))
                throw new FineXtractException($"{inputsPath}: missing input tensor '{name}' ({component} needs {string.Join(", ", Components[component].Inputs)})");
        using var lora = loraPath is null ? null : LoraAdapter.Open(loraPath);

        using var _ = torch.inference_mode();
        using var scope = torch.NewDisposeScope();
        var results = new Dictionary<string, torch.Tensor>();
        switch (component)
        {
            case "unet":
            {
                using var unet = ModelLoader.LoadUnet(modelPath, configPath);
                lora?.MergeInto(unet, LoraTarget.Unet, loraScale);
                results["sample"] = Guard(() => unet.forward(inputs.Load("sample", torch.ScalarType.Float32),
                    inputs.Load("timestep"), inputs.Load("encoder_hidden_states", torch.ScalarType.Float32)), component);
                break;
            }
            case "vae-encode":
            case "vae-decode":
            {
                if (lora is not null) throw new FineXtractException("--lora applies to the UNet and text encoder, not the VAE");
                using var vae = ModelLoader.LoadVae(modelPath, configPath);
                if (component == "vae-encode")
                {
                    var (mean, logvar) = Guard(() => vae.Encode(inputs.Load("sample", torch.ScalarType.Float32)), component);
                    results["mean"] = mean;
                    results["logvar"] = logvar;
                }
                else
                {
                    results["sample"] = Guard(() => vae.Decode(inputs.Load("latent", torch.ScalarType.Float32)), component);
                }
                break;
            }
            default:
            {
                using var te = ModelLoader.LoadTextEncoder(modelPath, configPath);
                lora?.MergeInto(te, LoraTarget.TextEncoder, loraScale);
                var o = Guard(() => te.Forward(inputs.Load("input_ids")), component);
                results["last_hidden_state"] = o.LastHiddenState;
                results["pooler_output"] = o.PooledOutput;
                break;
            }
        }
        SafeTensorsWriter.Write(outputPath, results);
    }

    /// <summary>Shape errors from libtorch mean the inputs do not fit the model: report them as user errors.</summary>
    private static T Guard<T>(Func<T> run, string component)
    {
        try
        {
            return run();
        }
        catch (ExternalException e)
        {
            string first = e.Message.Split('\n')[0];
            throw new FineXtractException($"{component}: the inputs do not fit this model ({first})");
        }
    }
}
