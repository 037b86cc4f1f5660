using FineXtract.Checkpoints;
using FineXtract.Extraction.Imaging;
using FineXtract.Extraction.Pipeline;

namespace FineXtract.Extraction.Evidence;

/// <summary>SHA-256 of every file an extraction reads, so the evidence names exactly what was audited.</summary>
public static class InputHashing
{
    private static readonly string[] ModelFileExtensions = [".safetensors", ".json", ".txt"];

    public static IReadOnlyList<InputRecord> Describe(ExtractionRequest request)
    {
        var inputs = new List<InputRecord> { Describe("base", request.Models.BasePath, ModelFiles) };
        if (request.Models.FineTunedPath is { } ft) inputs.Add(Describe("finetuned", ft, ModelFiles));
        if (request.Models.LoraPath is { } lora) inputs.Add(Describe("lora", lora, ModelFiles));
        if (request.Models.TokenizerPath is { } tok) inputs.Add(Describe("tokenizer", tok, ModelFiles));
        if (!string.Equals(request.Descriptor, "builtin", StringComparison.OrdinalIgnoreCase)) inputs.Add(Describe("descriptor", request.Descriptor, _ => true));
        if (request.ReferenceFolder is { } reference) inputs.Add(Describe("reference", reference, IsImage));
        return inputs;
    }

    public static InputRecord Describe(string role, string path, Func<string, bool> include)
    {
        var files = File.Exists(path)
            ? [path]
            : Directory.Exists(path)
                ? Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Where(include).Order(StringComparer.Ordinal).ToList()
                : throw new FineXtractException($"{path}: no such file or directory");
        string root = File.Exists(path) ? Path.GetDirectoryName(Path.GetFullPath(path))! : Path.GetFullPath(path);
        return new InputRecord(role, Path.GetFullPath(path), files.Select(f => new FileRecord(
            Path.GetRelativePath(root, Path.GetFullPath(f)), new FileInfo(f).Length, Sha256(f))).ToList());
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(string Path, long Length, long Modified), string> Hashes = new();

    /// <summary>SHA-256 of a file, remembered per (path, size, modification time): a base shared by many audits is hashed once per process.</summary>
    public static string Sha256(string file)
    {
        var info = new FileInfo(file);
        var key = (info.FullName, info.Length, info.LastWriteTimeUtc.Ticks);
        if (Hashes.TryGetValue(key, out var hash)) return hash;
        hash = CheckpointHashes.Compute(file).Sha256;
        if (Hashes.Count > 100_000) Hashes.Clear();
        Hashes[key] = hash;
        return hash;
    }

    private static readonly string[] PipelineComponents = ["unet", "vae", "text_encoder", "tokenizer", "scheduler"];

    /// <summary>Weights, configs and vocabularies; in a diffusers pipeline folder only what the loaders read.</summary>
    private static bool ModelFiles(string f)
    {
        if (!ModelFileExtensions.Contains(Path.GetExtension(f).ToLowerInvariant())) return false;
        var dir = Path.GetDirectoryName(f)!;
        if (File.Exists(Path.Combine(dir, "model_index.json"))) return Path.GetFileName(f) == "model_index.json";
        var parent = Path.GetDirectoryName(dir);
        if (parent is not null && File.Exists(Path.Combine(parent, "model_index.json")))
            return PipelineComponents.Contains(Path.GetFileName(dir));
        return true;
    }

    private static bool IsImage(string f) => ImageIO.Extensions.Contains(Path.GetExtension(f).ToLowerInvariant());
}
