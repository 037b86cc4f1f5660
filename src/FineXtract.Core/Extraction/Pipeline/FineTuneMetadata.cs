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

    /// <summary>kohya's count of training images, the N the clustering looks for.</summary>
    public static int? NumTrainImages(IReadOnlyDictionary<string, string>? metadata) =>
        metadata is not null && metadata.TryGetValue("ss_num_train_images", out var v) && int.TryParse(v, out int n) && n > 0 ? n : null;
}
