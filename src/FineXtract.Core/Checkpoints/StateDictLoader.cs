using TorchSharp;
using static TorchSharp.torch;

namespace FineXtract.Checkpoints;

/// <summary>
/// How a model's own (diffusers/transformers) parameter names are found in a checkpoint file: the file key for
/// each parameter, an optional reshaping (e.g. LDM's 1×1-conv attention weights), and which file keys belong to
/// the component so that leftovers can be reported.
/// </summary>
public sealed record KeyMapping(
    Func<string, string> ToFileKey,
    Func<string, bool> BelongsToComponent,
    Func<string, Tensor, Tensor>? Transform = null,
    Func<string, bool>? IgnoreFileKey = null,
    Func<string, bool>? IgnoreModelKey = null)
{
    public static KeyMapping Identity(string prefix = "", Func<string, bool>? ignoreFileKey = null) =>
        new(k => prefix + k, k => k.StartsWith(prefix, StringComparison.Ordinal), IgnoreFileKey: ignoreFileKey);
}

/// <summary>
/// Copies weights from a safetensors file into a module, converting to the module's dtype. Every parameter and
/// buffer must be found with the same shape: a missing tensor or a shape mismatch (a LoRA or fine-tune for a
/// different base, a wrong config) is an error naming the first offending tensor; so are file tensors of the
/// component that the model does not use.
/// </summary>
public static class StateDictLoader
{
    public static void Load(nn.Module module, SafeTensorsFile file, KeyMapping mapping, string what)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        var targets = module.state_dict();
        var missing = new List<string>();
        using (no_grad())
        {
            foreach (var (name, target) in targets)
            {
                if (mapping.IgnoreModelKey?.Invoke(name) == true) continue;
                string fileKey = mapping.ToFileKey(name);
                if (!file.Tensors.ContainsKey(fileKey))
                {
                    missing.Add($"'{fileKey}'");
                    continue;
                }
                used.Add(fileKey);
                using var loaded = file.Load(fileKey, target.dtype);
                using var value = mapping.Transform is null ? loaded.alias() : mapping.Transform(name, loaded);
                if (!value.shape.SequenceEqual(target.shape))
                    throw new CheckpointFormatException(
                        $"{file.Path}: {what} does not fit this model: tensor '{fileKey}' has shape [{string.Join(",", file.Tensors[fileKey].Shape)}]" +
                        $" but '{name}' needs [{string.Join(",", target.shape)}] (a checkpoint for a different base model, or a wrong config?)");
                target.copy_(value);
            }
        }
        if (missing.Count > 0)
            throw new CheckpointFormatException(
                $"{file.Path}: {what} is incomplete: {missing.Count} of {targets.Count} tensors missing, first {missing[0]} " +
                "(wrong layout or config for this file?)");

        var unused = file.Tensors.Keys
            .Where(k => mapping.BelongsToComponent(k) && !used.Contains(k) && mapping.IgnoreFileKey?.Invoke(k) != true)
            .OrderBy(k => k, StringComparer.Ordinal).ToList();
        if (unused.Count > 0)
            throw new CheckpointFormatException(
                $"{file.Path}: {what} has {unused.Count} tensor(s) this model does not use, first '{unused[0]}' (config does not match the checkpoint?)");
    }
}
