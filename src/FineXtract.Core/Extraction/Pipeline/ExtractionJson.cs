using System.Text.Json;

namespace FineXtract.Extraction.Pipeline;

/// <summary>
/// Compact JSON for the plain-data records a cluster passes between machines (the request, the context a sampler
/// prepared), in the same shape as results.json.
/// </summary>
public static class ExtractionJson
{
    private static readonly JsonSerializerOptions Options = new(JsonDefaults.Output) { WriteIndented = false };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static T Deserialize<T>(string json) =>
        JsonSerializer.Deserialize<T>(json, Options) ?? throw new FineXtractException($"empty {typeof(T).Name} document");
}
