using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FineXtract.Checkpoints.Lora;

/// <summary>
/// Maps the names LoRA files use to the weight tensors of our modules. Built from the model's own Linear and
/// Conv2d layers (as ComfyUI and A1111 do) instead of splitting kohya names on underscores.
/// </summary>
public static class LoraNameTable
{
    public static Dictionary<string, Tensor> Build(nn.Module model, LoraTarget target, bool kohya)
    {
        var table = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        string prefix = target == LoraTarget.Unet ? "lora_unet_" : "lora_te_";
        var unetConfig = (model as Diffusion.Models.UNet2DConditionModel)?.Config;
        foreach (var (name, module) in model.named_modules())
        {
            Tensor? weight = module switch { Linear l => l.weight, Conv2d c => c.weight, _ => null };
            if (weight is null || name.Length == 0) continue;
            if (!kohya)
            {
                table[name] = weight;
                continue;
            }
            table[prefix + name.Replace('.', '_')] = weight;
            // Some kohya files (and all SDXL ones) use LDM block names for the UNet.
            if (unetConfig is not null)
            {
                string ldm = LdmKeyMap.UNet(name + ".weight", unetConfig.LayersPerBlock, i => unetConfig.UpBlockTypes[i] == "CrossAttnUpBlock2D");
                table.TryAdd(prefix + ldm[..^".weight".Length].Replace('.', '_'), weight);
            }
        }
        return table;
    }
}
