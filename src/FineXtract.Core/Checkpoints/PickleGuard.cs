using System.Buffers.Binary;

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
        Span<byte> head = stackalloc byte[9];
        int read;
        using (var f = File.OpenRead(path))
            read = f.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        head = head[..read];

        // A safetensors file starts with its header length (u64 LE) and then '{'. Its first bytes can look like a
        // magic number (a length of 384 starts with 0x80 0x01, one of 19280 with "PK"), so a file that has this
        // shape is a safetensors candidate and is left to the safetensors validation.
        if (read == 9 && head[8] == (byte)'{')
        {
            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(head);
            if (n >= 2 && n <= (ulong)SafeTensorsFile.MaxHeaderBytes) return false;
        }
        // Zip archive (torch.save >= 1.6): local file header or end-of-central-directory record.
        if (read >= 4 && head[0] == (byte)'P' && head[1] == (byte)'K'
            && ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6))) return true;
        // Raw pickle (legacy torch.save): PROTO opcode 0x80 followed by a protocol number.
        return read >= 2 && head[0] == 0x80 && head[1] is >= 2 and <= 5;
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
