using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace FineXtract.Checkpoints;

/// <summary>
/// Turns a safetensors <c>__metadata__</c> map (strings only) into JSON. kohya sd-scripts stores everything as
/// strings, including JSON documents (<c>ss_tag_frequency</c>, <c>ss_dataset_dirs</c>, <c>ss_datasets</c>,
/// <c>ss_network_args</c>, <c>ss_bucket_info</c>…) and Python reprs (<c>True</c>, <c>None</c>); the <c>ss_*</c>
/// values are decoded so that a report shows them as JSON. Other keys (modelspec.*, sshs_*, anything else) stay
/// strings.
/// </summary>
public static partial class KohyaMetadata
{
    /// <summary>A plain JSON number, as Python's str() writes ints and floats (no leading zeros, no NaN/inf).</summary>
    [GeneratedRegex(@"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex JsonNumber();

    private static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 64 };

    public static JsonObject ToJson(IReadOnlyDictionary<string, string> metadata)
    {
        var result = new JsonObject();
        foreach (var (key, value) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            result[key] = key.StartsWith("ss_", StringComparison.Ordinal) ? Decode(key, value) : JsonValue.Create(value);
        return result;
    }

    /// <summary>The JSON form of one kohya value: a document, null, a boolean, a number, or the string itself.</summary>
    public static JsonNode? Decode(string key, string value)
    {
        var v = value.Trim();
        if (v.Length > 0 && (v[0] == '{' || v[0] == '['))
        {
            try { return JsonNode.Parse(v, documentOptions: DocumentOptions); }
            catch (JsonException) { return JsonValue.Create(value); }
        }
        switch (v)
        {
            case "null" or "None": return null;
            case "true" or "True": return JsonValue.Create(true);
            case "false" or "False": return JsonValue.Create(false);
        }
        // Hashes, names and free text stay strings even when they happen to be all digits.
        if (!LooksTextual(key) && v.Length <= 64 && JsonNumber().IsMatch(v))
            return JsonNode.Parse(v);
        return JsonValue.Create(value);
    }

    private static bool LooksTextual(string key) =>
        key.Contains("hash", StringComparison.OrdinalIgnoreCase)
        || key.Contains("name", StringComparison.OrdinalIgnoreCase)
        || key.Contains("comment", StringComparison.OrdinalIgnoreCase)
        || key.Contains("title", StringComparison.OrdinalIgnoreCase)
        || key.Contains("version", StringComparison.OrdinalIgnoreCase)
        || key.Contains("session_id", StringComparison.OrdinalIgnoreCase);
}
