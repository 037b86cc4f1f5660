using System.Text.Json;
using System.Text.Json.Serialization;
using FineXtract.Extraction.Evidence;

namespace FineXtract.Benchmarks;

/// <summary>What <c>demo/demo.json</c> says about the shipped models: the base, the two fine-tunes and their training set.</summary>
public sealed record DemoDescription(
    [property: JsonPropertyName("base")] string Base,
    [property: JsonPropertyName("dreambooth")] string DreamBooth,
    [property: JsonPropertyName("lora")] string Lora,
    [property: JsonPropertyName("set")] string Set,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("caption")] string Caption,
    [property: JsonPropertyName("training_images")] string TrainingImages);

/// <summary>
/// The demo bundle in the repository's <c>demo/</c> folder: <c>demo.json</c> (which files are which) and
/// <c>SHA256SUMS</c> (sha256sum format, checkable with <c>sha256sum -c</c>) over every shipped file.
/// </summary>
public sealed class DemoBundle
{
    public const string DescriptionFile = "demo.json";
    public const string ChecksumFile = "SHA256SUMS";

    public string Root { get; }
    public DemoDescription Description { get; }

    private DemoBundle(string root, DemoDescription description)
    {
        Root = root;
        Description = description;
    }

    public string BasePath => Path.Combine(Root, Description.Base);
    public string DreamBoothPath => Path.Combine(Root, Description.DreamBooth);
    public string LoraPath => Path.Combine(Root, Description.Lora);
    public string TrainingImages => Path.Combine(Root, Description.TrainingImages);

    public FineTuneTarget Target => new(Description.Set, Description.Name, TrainingImages, Description.Caption,
        Extraction.Imaging.ImageIO.ListImages(TrainingImages).Count);

    public static DemoBundle Open(string root)
    {
        string file = Path.Combine(root, DescriptionFile);
        if (!File.Exists(file)) throw new FineXtractException($"{root}: not a demo bundle (no {DescriptionFile})");
        var description = JsonSerializer.Deserialize<DemoDescription>(File.ReadAllText(file))
            ?? throw new FineXtractException($"{file}: empty");
        return new DemoBundle(root, description);
    }

    /// <summary>
    /// The demo folder: <paramref name="given"/>, else the first <c>demo/</c> with a demo.json above the current
    /// directory or above the program (so it works from a clone and from the published image).
    /// </summary>
    public static string Locate(string? given)
    {
        if (given is not null) return given;
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "demo");
                if (File.Exists(Path.Combine(candidate, DescriptionFile))) return candidate;
            }
        throw new FineXtractException("no demo/ folder with demo.json found above the current directory; pass --models DIR");
    }

    /// <summary>(file, expected SHA-256) of every line of SHA256SUMS.</summary>
    public IReadOnlyList<(string File, string Sha256)> Checksums()
    {
        string file = Path.Combine(Root, ChecksumFile);
        if (!File.Exists(file)) throw new FineXtractException($"{file} is missing");
        var list = new List<(string, string)>();
        foreach (var line in File.ReadAllLines(file).Where(l => l.Trim().Length > 0))
        {
            int space = line.IndexOf(' ');
            if (space != 64) throw new FineXtractException($"{file}: not a sha256sum line: {line}");
            list.Add((line[(space + 1)..].TrimStart(' ', '*'), line[..64]));
        }
        return list;
    }

    /// <summary>Checks every listed file's SHA-256; throws naming the first file that is missing or differs.</summary>
    public void Verify()
    {
        foreach (var (relative, expected) in Checksums())
        {
            string path = Path.Combine(Root, relative);
            if (!File.Exists(path)) throw new FineXtractException($"{path}: listed in {ChecksumFile} but missing");
            string actual = InputHashing.Sha256(path);
            if (!actual.Equals(expected, StringComparison.OrdinalIgnoreCase))
                throw new FineXtractException($"{path}: SHA-256 {actual} differs from {ChecksumFile} ({expected}); the file is damaged or was replaced");
        }
    }
}
