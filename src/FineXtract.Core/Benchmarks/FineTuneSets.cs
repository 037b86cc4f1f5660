using FineXtract.Extraction.Imaging;
using FineXtract.Training;

namespace FineXtract.Benchmarks;

/// <summary>One fine-tuning target of the benchmark: a folder of training images and the caption they are trained with.</summary>
public sealed record FineTuneTarget(string Set, string Name, string ImagesFolder, string Caption, int ImageCount)
{
    public string Key => $"{Set}/{Name}";
}

/// <summary>
/// Finds the fine-tuning targets in a data folder laid out as <c>&lt;set&gt;/&lt;name&gt;/*.jpg</c>, each set with one
/// captions file (the first that exists):
/// <list type="bullet">
/// <item><c>captions.csv</c> with <c>name,caption</c> columns (any new data set);</item>
/// <item><c>metadata.csv</c> with <c>artist,caption[,split]</c> columns (the WikiArt layout; rows of split <c>train</c>);</item>
/// <item><c>subjects.csv</c> with <c>subject,class</c> columns (the DreamBooth layout): caption "a photo of sks &lt;class&gt;",
/// DreamBooth's rare-token instance prompt.</item>
/// </list>
/// </summary>
public static class FineTuneSets
{
    public const string DreamBoothIdentifier = "sks";

    /// <summary>Targets of <paramref name="sets"/> in name order; <paramref name="names"/> picks some, <paramref name="perSet"/> keeps the first N of each set.</summary>
    public static IReadOnlyList<FineTuneTarget> Discover(string root, IReadOnlyList<string> sets, IReadOnlyCollection<string>? names = null, int? perSet = null)
    {
        if (!Directory.Exists(root)) throw new FineXtractException($"{root}: data folder not found");
        if (sets.Count == 0) throw new FineXtractException("no data sets given");
        if (perSet is < 1) throw new FineXtractException($"the number of targets per set must be at least 1, got {perSet}");
        var targets = new List<FineTuneTarget>();
        foreach (var set in sets)
        {
            string setDir = Path.Combine(root, set);
            if (!Directory.Exists(setDir))
                throw new FineXtractException($"{setDir}: no such set (sets here: {string.Join(", ", Directory.GetDirectories(root).Select(Path.GetFileName).Order())})");
            var captions = Captions(setDir);
            var folders = Directory.GetDirectories(setDir).Select(d => Path.GetFileName(d)!).Order(StringComparer.Ordinal)
                .Where(n => ImageIO.ListImages(Path.Combine(setDir, n)).Count > 0).ToList();
            if (names is { Count: > 0 }) folders = folders.Where(names.Contains).ToList();
            if (perSet is { } n) folders = folders.Take(n).ToList();
            foreach (var name in folders)
            {
                if (!captions.TryGetValue(name, out var caption))
                    throw new FineXtractException($"{setDir}: the captions file has no caption for '{name}'");
                string folder = Path.Combine(setDir, name);
                targets.Add(new FineTuneTarget(set, name, folder, caption, ImageIO.ListImages(folder).Count));
            }
        }
        if (names is { Count: > 0 })
        {
            var missing = names.Where(n => targets.All(t => t.Name != n)).ToList();
            if (missing.Count > 0) throw new FineXtractException($"no target named {string.Join(", ", missing)} in {string.Join(", ", sets)}");
        }
        if (targets.Count == 0) throw new FineXtractException($"{root}: no image folders in {string.Join(", ", sets)}");
        return targets;
    }

    /// <summary>Caption per target folder name, from the set's captions file.</summary>
    public static IReadOnlyDictionary<string, string> Captions(string setDir)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        string generic = Path.Combine(setDir, "captions.csv"), wikiart = Path.Combine(setDir, "metadata.csv"), dreambooth = Path.Combine(setDir, "subjects.csv");
        if (File.Exists(generic))
        {
            var rows = Csv.Read(File.ReadAllText(generic), generic);
            int name = Csv.Column(rows, generic, "name"), caption = Csv.Column(rows, generic, "caption");
            foreach (var row in rows.Skip(1).Where(r => r.Count > Math.Max(name, caption))) result[row[name]] = row[caption];
        }
        else if (File.Exists(wikiart))
        {
            var rows = Csv.Read(File.ReadAllText(wikiart), wikiart);
            int artist = Csv.Column(rows, wikiart, "artist"), caption = Csv.Column(rows, wikiart, "caption");
            int split = rows[0].FindIndex(h => h.Trim().Equals("split", StringComparison.OrdinalIgnoreCase));
            foreach (var row in rows.Skip(1).Where(r => r.Count > Math.Max(artist, caption)))
                if (split < 0 || row[split] == "train") result.TryAdd(row[artist], row[caption]);
        }
        else if (File.Exists(dreambooth))
        {
            var rows = Csv.Read(File.ReadAllText(dreambooth), dreambooth);
            int subject = Csv.Column(rows, dreambooth, "subject"), cls = Csv.Column(rows, dreambooth, "class");
            foreach (var row in rows.Skip(1).Where(r => r.Count > Math.Max(subject, cls)))
                result[row[subject]] = $"a photo of {DreamBoothIdentifier} {row[cls]}";
        }
        else throw new FineXtractException($"{setDir}: no captions file (captions.csv with name,caption; metadata.csv; or subjects.csv)");
        return result;
    }
}
