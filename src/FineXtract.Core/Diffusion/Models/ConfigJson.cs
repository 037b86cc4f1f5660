using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineXtract.Diffusion.Models;

/// <summary>
/// Reads the fields of a diffusers/transformers config.json with the library's defaults and clear errors
/// (a field of the wrong type names the file and the field).
/// </summary>
public sealed class ConfigJson
{
    private readonly JsonObject _root;
    public string Source { get; }

    public ConfigJson(JsonObject root, string source)
    {
        _root = root;
        Source = source;
    }

    public static ConfigJson Load(string path)
    {
        if (!File.Exists(path)) throw new FineXtractException($"{path}: config file not found");
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new FineXtractException($"{path}: cannot read the config: {e.Message}", e);
        }
        return Parse(text, path);
    }

    public static ConfigJson Parse(string json, string source)
    {
        try
        {
            var options = new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip };
            return JsonNode.Parse(json, documentOptions: options) is JsonObject o
                ? new ConfigJson(o, source)
                : throw new FineXtractException($"{source}: config must be a JSON object");
        }
        catch (JsonException e)
        {
            throw new FineXtractException($"{source}: invalid JSON ({e.Message})");
        }
    }

    public static ConfigJson Empty(string source) => new(new JsonObject(), source);

    /// <summary>JSON null counts as absent, as in diffusers' configs.</summary>
    public bool Has(string key) => _root[key] is not null;

    public string? String(string key, string? fallback = null) => Get(key, fallback, n => n.GetValue<string>());
    public int Int(string key, int fallback) => IntOrNull(key) ?? fallback;
    public double Double(string key, double fallback) => DoubleOrNull(key) ?? fallback;
    public bool Bool(string key, bool fallback) => BoolOrNull(key) ?? fallback;
    public bool? BoolOrNull(string key) => Get<bool?>(key, null, n => n.GetValue<bool>());

    /// <summary>An integer; 1000.0 is accepted as 1000 (Python writes some counts as floats).</summary>
    public int? IntOrNull(string key) => Get<int?>(key, null, n =>
    {
        double d = n.GetValue<double>();
        return d == Math.Floor(d) && d >= int.MinValue && d <= int.MaxValue ? (int)d : throw new FormatException();
    });

    public double? DoubleOrNull(string key) => Get<double?>(key, null, n =>
        n.GetValue<double>() is var d && double.IsFinite(d) ? d : throw new FormatException());

    public double[]? Doubles(string key) => _root[key] is null ? null
        : Get<double[]?>(key, null, n => n.AsArray().Select(x => x!.GetValue<double>() is var d && double.IsFinite(d) ? d : throw new FormatException()).ToArray());

    public int[] Ints(string key, int[] fallback) =>
        Get(key, fallback, n => n.AsArray().Select(x => x!.GetValue<int>()).ToArray());

    public string[] Strings(string key, string[] fallback) =>
        Get(key, fallback, n => n.AsArray().Select(x => x!.GetValue<string>()).ToArray());

    /// <summary>An int applied to every block, or one value per block (diffusers accepts both).</summary>
    public int[]? PerBlock(string key, int blocks)
    {
        var node = _root[key];
        if (node is null) return null;
        return node is JsonArray a
            ? Get<int[]>(key, [], _ => a.Select(x => x!.GetValue<int>()).ToArray()) is { } v && v.Length == blocks
                ? v
                : throw new FineXtractException($"{Source}: '{key}' must have one value per block ({blocks})")
            : Enumerable.Repeat(Get(key, 0, n => n.GetValue<int>()), blocks).ToArray();
    }

    private T Get<T>(string key, T fallback, Func<JsonNode, T> read)
    {
        var node = _root[key];
        if (node is null) return fallback;
        try
        {
            return read(node);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException)
        {
            throw new FineXtractException($"{Source}: field '{key}' has an unexpected value {node.ToJsonString()}");
        }
    }
}
