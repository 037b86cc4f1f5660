using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FineXtract;

/// <summary>How every JSON document the product writes looks (CLI output, results.json, reports).</summary>
public static class JsonDefaults
{
    public static JsonSerializerOptions Output { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // Captions, tags and file names are shown as written (no \u escapes for non-ASCII or '+', '<', '&', ''').
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };
}
