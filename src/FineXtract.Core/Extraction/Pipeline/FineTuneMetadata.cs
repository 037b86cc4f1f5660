using System.Text.Json.Nodes;
using FineXtract.Checkpoints;

namespace FineXtract.Extraction.Pipeline;

/// <summary>The safetensors metadata of a fine-tune (kohya and civitai write it into LoRAs and single files; diffusers folders have none).</summary>
public static class FineTuneMetadata
{
    public static IReadOnlyDictionary<string, string>? Read(ModelSources sources)
    {
        string? file = sources.LoraPath ?? (File.Exists(sources.FineTunedPath) ? sources.FineTunedPath : null);
        if (file is null) return null;
        using var f = SafeTensorsFile.Open(file);
        return new Dictionary<string, string>(f.Metadata);
    }

    /// <summary>
    /// The number of distinct training images, the N the clustering looks for: the sum of <c>img_count</c> over kohya's
    /// <c>ss_dataset_dirs</c> (or the subsets of <c>ss_datasets</c>). <c>ss_num_train_images</c> is not used: kohya
    /// counts every repeat there (images × n_repeats, e.g. 1,000 for 5 images × 200), and an N larger than the images
    /// generated leaves the clustering nothing to select.
    /// </summary>
    public static int? NumTrainImages(IReadOnlyDictionary<string, string>? metadata)
    {
        if (metadata is null) return null;
        int total = 0;
        if (metadata.TryGetValue("ss_dataset_dirs", out var dirs) && Parse(dirs) is JsonObject folders)
            foreach (var (_, folder) in folders) total += Count(folder);
        else if (metadata.TryGetValue("ss_datasets", out var datasets) && Parse(datasets) is JsonArray list)
            foreach (var dataset in list)
                if (dataset?["subsets"] is JsonArray subsets)
                    foreach (var subset in subsets) total += Count(subset);
        return total > 0 ? total : null;
    }

    private static int Count(JsonNode? node) =>
        node?["img_count"] is JsonValue v && v.TryGetValue(out int n) && n > 0 ? n : 0;

    private static JsonNode? Parse(string json)
    {
        try
        {
            return JsonNode.Parse(json);
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}
