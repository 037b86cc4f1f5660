using System.Text.Json;

namespace FineXtract.Extraction.Evidence;

/// <summary>Reads and writes <c>results.json</c>.</summary>
public static class ResultsJson
{
    public static void Write(string path, ExtractionResults results)
    {
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(results, JsonDefaults.Output));
        File.Move(tmp, path, overwrite: true);
    }

    public static ExtractionResults Read(string path)
    {
        if (!File.Exists(path)) throw new FineXtractException($"{path}: results file not found");
        try
        {
            return JsonSerializer.Deserialize<ExtractionResults>(File.ReadAllText(path), JsonDefaults.Output)
                ?? throw new FineXtractException($"{path}: empty results file");
        }
        catch (JsonException e)
        {
            throw new FineXtractException($"{path}: not a FineXtract results file ({e.Message})");
        }
    }
}
