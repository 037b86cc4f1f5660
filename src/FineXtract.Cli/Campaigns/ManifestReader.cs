using System.Text.Json;
using FineXtract.Grains;

namespace FineXtract.Cli.Campaigns;

/// <summary>
/// Reads a campaign manifest: JSON Lines, one checkpoint per line —
/// <c>{"id": "...", "base": PATH|URL, "finetuned"|"lora": PATH|URL, "prompt"?: "...", "reference"?: DIR, "sha256"?: HEX, "lora_scale"?: 1.0}</c>.
/// Blank lines and lines starting with '#' are skipped; relative paths are taken from the manifest's folder.
/// </summary>
public static class ManifestReader
{
    public static List<CheckpointEntry> Read(string path)
    {
        if (!File.Exists(path)) throw new FineXtractException($"{path}: manifest not found");
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var entries = new List<CheckpointEntry>();
        int number = 0;
        foreach (var raw in File.ReadLines(path))
        {
            number++;
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var o = doc.RootElement;
                if (o.ValueKind != JsonValueKind.Object) throw new FineXtractException("not a JSON object");
                string? Get(params string[] names)
                {
                    foreach (var n in names)
                        if (o.TryGetProperty(n, out var v) && v.ValueKind != JsonValueKind.Null)
                            return v.ValueKind == JsonValueKind.String ? v.GetString() : throw new FineXtractException($"'{n}' must be a string");
                    return null;
                }
                string id = Get("id") ?? throw new FineXtractException("no 'id'");
                string @base = Get("base") ?? throw new FineXtractException("no 'base'");
                double scale = o.TryGetProperty("lora_scale", out var s) || o.TryGetProperty("loraScale", out s) ? s.GetDouble() : 1.0;
                entries.Add(new CheckpointEntry(id, Local(@base)!, Local(Get("finetuned", "fineTuned")), Local(Get("lora")), Get("prompt"),
                    Local(Get("reference")), Get("sha256"), scale));
            }
            catch (Exception e) when (e is JsonException or FineXtractException or InvalidOperationException or FormatException)
            {
                throw new FineXtractException($"{path}: line {number}: {e.Message}");
            }
        }
        if (entries.Count == 0) throw new FineXtractException($"{path}: no checkpoints");
        return entries;

        string? Local(string? uri) =>
            uri is null || uri.Contains("://", StringComparison.Ordinal) || Path.IsPathRooted(uri) ? uri : Path.GetFullPath(Path.Combine(folder, uri));
    }
}
