using FineXtract.Extraction.Imaging;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace FineXtract.Training;

/// <summary>One training image and its caption; <see cref="Source"/> is the CSV's source column (if any).</summary>
public sealed record ImageCaptionEntry(string Path, string Caption, string? Source = null);

/// <summary>
/// The official fine-tuning transform at miniature size: Resize(short side = resolution, bilinear) → RandomCrop
/// (resolution, optionally after zero padding on every side, as torchvision's <c>RandomCrop(size, padding)</c>) →
/// optional horizontal flip → [−1, 1]. FineXtract's scripts use no padding and no flip.
/// </summary>
public sealed record Augmentation(int Resolution, int Padding = 0, bool Flip = false)
{
    public void Validate()
    {
        if (Resolution < 8 || Resolution > 1024) throw new FineXtractException($"--resolution must be 8..1024, got {Resolution}");
        if (Padding < 0 || Padding > Resolution) throw new FineXtractException($"--crop-padding must be 0..{Resolution}, got {Padding}");
    }
}

/// <summary>Deterministic data order: a fresh permutation of the dataset per epoch, from the seed.</summary>
public sealed class DataOrder(int count, long seed)
{
    private int[]? _epochOrder;
    private long _epoch = -1;

    public int Count { get; } = count > 0 ? count : throw new FineXtractException("the dataset is empty");

    /// <summary>The dataset index at global sample position <paramref name="position"/> (= step · batch + i).</summary>
    public int At(long position)
    {
        long epoch = position / Count;
        if (epoch != _epoch)
        {
            _epochOrder = Enumerable.Range(0, Count).ToArray();
            StepRandom.Random(seed, epoch, StepRandom.Stream.Order).Shuffle(_epochOrder);
            _epoch = epoch;
        }
        return _epochOrder![position % Count];
    }

    /// <summary>Dataset indices of the batch of <paramref name="step"/>.</summary>
    public int[] Batch(long step, int batchSize) =>
        Enumerable.Range(0, batchSize).Select(i => At(step * batchSize + i)).ToArray();
}

/// <summary>
/// Images with captions for training: the pretraining captions CSV (<c>file,caption,source</c>, with per-source
/// oversampling) or a fine-tuning folder (one instance prompt, a captions CSV, or kohya-style <c>.txt</c> sidecars).
/// Images are decoded with <see cref="ImageIO"/> and resized once; small datasets keep the resized images in memory.
/// </summary>
public sealed class ImageCaptionDataset : IDisposable
{
    private readonly Dictionary<string, Tensor> _cache = new(StringComparer.Ordinal);
    private readonly int _cacheLimit;

    public IReadOnlyList<ImageCaptionEntry> Entries { get; }
    public Augmentation Augmentation { get; }
    public int Count => Entries.Count;

    /// <summary>Distinct image files (oversampling repeats entries, not files).</summary>
    public IReadOnlyList<string> DistinctPaths => Entries.Select(e => e.Path).Distinct(StringComparer.Ordinal).ToList();

    public ImageCaptionDataset(IReadOnlyList<ImageCaptionEntry> entries, Augmentation augmentation, int cacheLimit = 2048)
    {
        augmentation.Validate();
        if (entries.Count == 0) throw new FineXtractException("the dataset has no images");
        Entries = entries;
        Augmentation = augmentation;
        _cacheLimit = cacheLimit;
    }

    /// <summary>
    /// The pretraining CSV: columns <c>file</c> and <c>caption</c> (required) and <c>source</c> (optional); paths are
    /// relative to <paramref name="root"/> (default: the CSV's folder). <paramref name="oversample"/> repeats every
    /// entry of a source that many times (e.g. art_pd ×10).
    /// </summary>
    public static List<ImageCaptionEntry> ReadCaptionsCsv(string csvPath, string? root = null, IReadOnlyDictionary<string, int>? oversample = null)
    {
        if (!File.Exists(csvPath)) throw new FineXtractException($"{csvPath}: captions file not found");
        root ??= Path.GetDirectoryName(Path.GetFullPath(csvPath))!;
        var rows = Csv.Read(File.ReadAllText(csvPath), csvPath);
        int file = Csv.Column(rows, csvPath, "file", "file_name", "image"), caption = Csv.Column(rows, csvPath, "caption", "text");
        int source = rows[0].FindIndex(h => h.Trim().Equals("source", StringComparison.OrdinalIgnoreCase));
        var seenSources = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<ImageCaptionEntry>();
        foreach (var row in rows.Skip(1))
        {
            if (row.Count == 1 && row[0].Length == 0) continue;
            if (row.Count <= Math.Max(file, caption))
                throw new FineXtractException($"{csvPath}: row {result.Count + 2} has {row.Count} fields, expected at least {Math.Max(file, caption) + 1}");
            string? src = source >= 0 && source < row.Count ? row[source] : null;
            if (src is not null) seenSources.Add(src);
            var entry = new ImageCaptionEntry(Path.GetFullPath(Path.Combine(root, row[file])), row[caption], src);
            int repeats = src is not null && oversample is not null && oversample.TryGetValue(src, out var r) ? r : 1;
            for (int i = 0; i < repeats; i++) result.Add(entry);
        }
        if (oversample is not null)
            foreach (var key in oversample.Keys.Where(k => !seenSources.Contains(k)))
                throw new FineXtractException($"{csvPath}: --oversample names source '{key}', which no row has (sources: {string.Join(", ", seenSources.Order())})");
        if (result.Count == 0) throw new FineXtractException($"{csvPath}: no rows");
        return result;
    }

    /// <summary>
    /// A fine-tuning folder: every image directly inside <paramref name="folder"/> (sorted by name). Captions: the
    /// <paramref name="prompt"/> for all images; else <paramref name="captionsFile"/> (CSV with file/file_name and
    /// caption/text columns, file names relative to the folder); else a <c>name.txt</c> beside each image.
    /// </summary>
    public static List<ImageCaptionEntry> ReadFolder(string folder, string? prompt, string? captionsFile = null)
    {
        var images = ImageIO.ListImages(folder);
        if (images.Count == 0) throw new FineXtractException($"{folder}: no images ({string.Join(", ", ImageIO.Extensions)})");
        if (prompt is not null)
        {
            if (string.IsNullOrWhiteSpace(prompt)) throw new FineXtractException("--prompt is empty");
            return images.Select(p => new ImageCaptionEntry(p, prompt)).ToList();
        }
        if (captionsFile is not null)
        {
            var byName = ReadCaptionsCsv(captionsFile, folder).ToDictionary(e => Path.GetFileName(e.Path), e => e.Caption, StringComparer.Ordinal);
            return images.Select(p => new ImageCaptionEntry(p, byName.TryGetValue(Path.GetFileName(p), out var c)
                ? c : throw new FineXtractException($"{captionsFile}: no caption for {Path.GetFileName(p)}"))).ToList();
        }
        return images.Select(p =>
        {
            var txt = Path.ChangeExtension(p, ".txt");
            return File.Exists(txt) ? new ImageCaptionEntry(p, File.ReadAllText(txt).Trim())
                : throw new FineXtractException($"{folder}: {Path.GetFileName(p)} has no caption (give --prompt, --captions or a {Path.GetFileName(txt)})");
        }).ToList();
    }

    /// <summary>The image resized so that its short side is the resolution, [3,H,W] in [0,1] (a new tensor).</summary>
    public Tensor LoadResized(int index)
    {
        string path = Entries[index].Path;
        if (_cache.TryGetValue(path, out var cached)) return cached.clone();
        Tensor resized;
        using (var original = ImageIO.Load(path))
        {
            if (original.shape[0] != 3) throw new FineXtractException($"{path}: expected an RGB image");
            resized = ImageTransforms.ResizeShortSide(original, Augmentation.Resolution);
        }
        if (_cache.Count < _cacheLimit)
        {
            _cache[path] = resized.DetachFromDisposeScope();
            return resized.clone();
        }
        return resized;
    }

    /// <summary>Deterministic centre view: resize and centre crop, [3,R,R] in [−1,1].</summary>
    public Tensor LoadCentred(int index, bool flip = false)
    {
        using var scope = NewDisposeScope();
        var img = ImageTransforms.CenterCrop(LoadResized(index), Augmentation.Resolution);
        if (flip) img = img.flip(2);
        return (img * 2 - 1).MoveToOuterDisposeScope();
    }

    /// <summary>One augmented sample, [3,R,R] in [−1,1].</summary>
    public Tensor Sample(int index, Random rng)
    {
        using var scope = NewDisposeScope();
        int r = Augmentation.Resolution, pad = Augmentation.Padding;
        var img = LoadResized(index);
        if (pad > 0) img = F.pad(img, [pad, pad, pad, pad], PaddingModes.Constant, 0);
        long h = img.shape[1], w = img.shape[2];
        int top = rng.Next((int)(h - r) + 1), left = rng.Next((int)(w - r) + 1);
        img = img[.., top..(top + r), left..(left + r)];
        if (Augmentation.Flip && rng.Next(2) == 1) img = img.flip(2);
        return (img * 2 - 1).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>The images of a batch, [B,3,R,R] in [−1,1], augmented with randomness from (seed, step).</summary>
    public Tensor Batch(IReadOnlyList<int> indices, long seed, long step)
    {
        using var scope = NewDisposeScope();
        var items = indices.Select((index, i) => Sample(index, StepRandom.Random(seed, step, StepRandom.Stream.Augment, i))).ToArray();
        return stack(items).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        foreach (var t in _cache.Values) t.Dispose();
        _cache.Clear();
    }
}

/// <summary>A minimal RFC 4180 reader (quoted fields, doubled quotes, commas and newlines inside quotes).</summary>
public static class Csv
{
    public static List<List<string>> Read(string text, string source)
    {
        var rows = new List<List<string>>();
        var row = new List<string>();
        var field = new System.Text.StringBuilder();
        bool quoted = false, fieldStarted = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"')
                {
                    if (i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                    else quoted = false;
                }
                else field.Append(c);
                continue;
            }
            switch (c)
            {
                case '"' when !fieldStarted || field.Length == 0:
                    quoted = true;
                    fieldStarted = true;
                    break;
                case ',':
                    row.Add(field.ToString());
                    field.Clear();
                    fieldStarted = false;
                    break;
                case '\r':
                    break;
                case '\n':
                    row.Add(field.ToString());
                    rows.Add(row);
                    row = [];
                    field.Clear();
                    fieldStarted = false;
                    break;
                default:
                    field.Append(c);
                    fieldStarted = true;
                    break;
            }
        }
        if (quoted) throw new FineXtractException($"{source}: unterminated quoted field");
        if (fieldStarted || field.Length > 0 || row.Count > 0)
        {
            row.Add(field.ToString());
            rows.Add(row);
        }
        if (rows.Count == 0) throw new FineXtractException($"{source}: empty CSV file");
        if (rows[0].Count > 0 && rows[0][0].StartsWith('\uFEFF')) rows[0][0] = rows[0][0][1..];
        return rows;
    }

    /// <summary>Index of the first header among <paramref name="names"/> (case-insensitive).</summary>
    public static int Column(List<List<string>> rows, string source, params string[] names)
    {
        int i = rows[0].FindIndex(h => names.Any(n => h.Trim().Equals(n, StringComparison.OrdinalIgnoreCase)));
        return i >= 0 ? i : throw new FineXtractException($"{source}: no '{names[0]}' column (header: {string.Join(",", rows[0])})");
    }
}
