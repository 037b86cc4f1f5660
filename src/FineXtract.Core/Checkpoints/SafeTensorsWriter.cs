using System.Text.Json;
using TorchSharp;

namespace FineXtract.Checkpoints;

/// <summary>Writes safetensors files (for tests, training output and tools), with optional __metadata__.</summary>
public static class SafeTensorsWriter
{
    public static void Write(string path, IEnumerable<KeyValuePair<string, torch.Tensor>> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        // Like the reference writer: sorted by name; offsets are contiguous; header padded to 8 bytes.
        var entries = tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        using var header = new MemoryStream();
        using (var json = new Utf8JsonWriter(header))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) json.WriteString(k, v);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, t) in entries)
            {
                long bytes = t.NumberOfElements * t.ElementSize;
                json.WriteStartObject(name);
                json.WriteString("dtype", SafeTensorsDType.FromTorch(t.dtype));
                json.WriteStartArray("shape");
                foreach (var d in t.shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        int pad = (int)((8 - header.Length % 8) % 8);
        for (int i = 0; i < pad; i++) header.WriteByte((byte)' ');

        string tmp = path + ".tmp";
        using (var f = File.Create(tmp))
        {
            f.Write(BitConverter.GetBytes((ulong)header.Length));
            header.Position = 0;
            header.CopyTo(f);
            foreach (var (_, t) in entries)
            {
                using var cpu = t.detach().cpu().contiguous();
                if (cpu.NumberOfElements > 0) f.Write(cpu.bytes);
            }
        }
        File.Move(tmp, path, overwrite: true);
    }
}
