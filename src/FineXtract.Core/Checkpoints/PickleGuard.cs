namespace FineXtract.Checkpoints;

/// <summary>
/// Refuses PyTorch pickle checkpoints (.ckpt, .pt, .pth, .bin). Unpickling runs arbitrary code chosen by
/// whoever made the file, and an audit tool opens files from strangers, so we never unpickle.
/// </summary>
public static class PickleGuard
{
    private static readonly string[] PickleExtensions = [".ckpt", ".pt", ".pth", ".bin", ".pkl"];

    public static bool LooksLikePickleName(string path) =>
        PickleExtensions.Contains(System.IO.Path.GetExtension(path).ToLowerInvariant());

    public static bool LooksLikePickle(string path)
    {
        if (LooksLikePickleName(path)) return true;
        // Zip (torch.save >= 1.6) or a raw pickle protocol marker.
        Span<byte> head = stackalloc byte[2];
        using var f = File.OpenRead(path);
        if (f.Read(head) < 2) return false;
        return (head[0] == (byte)'P' && head[1] == (byte)'K') || head[0] == 0x80;
    }

    public static void ThrowIfPickle(string path)
    {
        if (!LooksLikePickle(path)) return;
        throw new CheckpointFormatException(
            $"{path}: PyTorch pickle checkpoints are refused: loading one can execute arbitrary code. " +
            "Convert it to .safetensors in a sandbox first, e.g. with diffusers' " +
            "scripts/convert_original_stable_diffusion_to_diffusers.py --to_safetensors, or " +
            "safetensors.torch.save_file(torch.load(f, weights_only=True)['state_dict'], 'model.safetensors').");
    }
}
