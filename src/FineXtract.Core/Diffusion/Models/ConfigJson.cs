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
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) is JsonObject o
                ? new ConfigJson(o, path)
                : throw new FineXtractException($"{path}: config must be a JSON object");
        }
        catch (JsonException e)
        {
            throw new FineXtractException($"{path}: invalid JSON ({e.Message})");
        }
    }

    public static ConfigJson Empty(string source) => new(new JsonObject(), source);

    public bool Has(string key) => _root[key] is not null;

    public string? String(string key, string? fallback = null) => Get(key, fallback, n => n.GetValue<string>());
    public int Int(string key, int fallback) => Get(key, fallback, n => n.GetValue<int>());
    public int? IntOrNull(string key) => _root[key] is null ? null : Get<int?>(key, null, n => n.GetValue<int>());
    public double Double(string key, double fallback) => Get(key, fallback, n => n.GetValue<double>());
    public bool Bool(string key, bool fallback) => Get(key, fallback, n => n.GetValue<bool>());

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
