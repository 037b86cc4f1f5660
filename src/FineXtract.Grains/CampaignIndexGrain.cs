using Microsoft.Extensions.Options;

namespace FineXtract.Grains;

/// <summary>Only the matches: which checkpoints were added is told by the vector files (state writes stay small).</summary>
[GenerateSerializer, Alias("fx.CampaignIndexState")]
public sealed class CampaignIndexState
{
    [Id(1)] public List<SharedImage> Shared { get; set; } = [];
}

/// <summary>
/// The campaign's index of extracted embeddings: each finished checkpoint adds its extracted images; an image whose
/// descriptor similarity to another checkpoint's extracted image reaches the threshold is reported as shared (the
/// same training image in two fine-tunes). Vectors live in files under the campaign's index folder, the matches in
/// grain state. Exhaustive comparison: fine for thousands of checkpoints of tens of images each.
/// </summary>
public sealed class CampaignIndexGrain(
    [PersistentState("campaign-index")] IPersistentState<CampaignIndexState> state,
    IOptions<ArtifactOptions> artifacts,
    CampaignMetrics metrics) : Grain, ICampaignIndexGrain
{
    private Dictionary<string, List<(int Image, float[] Vector)>>? _vectors;

    private string Folder => artifacts.Value.IndexFolder(this.GetPrimaryKeyString());

    public async Task<IReadOnlyList<SharedImage>> Add(string checkpointId, IReadOnlyList<ExtractedEmbedding> extracted, double threshold)
    {
        var vectors = Load();
        if (vectors.ContainsKey(checkpointId))
            return state.State.Shared.Where(s => s.CheckpointA == checkpointId || s.CheckpointB == checkpointId).ToList();
        var mine = extracted.Select(e => (e.Image, Normalise(e.Embedding))).ToList();
        var found = await Task.Run(() =>
        {
            var matches = new List<SharedImage>();
            foreach (var (other, theirs) in vectors)
                foreach (var (image, v) in mine)
                    foreach (var (otherImage, w) in theirs)
                    {
                        if (v.Length != w.Length) continue;
                        double s = Dot(v, w);
                        if (s >= threshold) matches.Add(new SharedImage(other, otherImage, checkpointId, image, Math.Round(s, 6)));
                    }
            return matches;
        });
        // Matches first, then the vector files: a crash in between re-adds the checkpoint and records nothing twice.
        var fresh = found.Where(f => !state.State.Shared.Contains(f)).ToList();
        if (fresh.Count > 0)
        {
            state.State.Shared.AddRange(fresh);
            await StorageRetry.WriteAsync(state);
        }
        Directory.CreateDirectory(Folder);
        await File.WriteAllTextAsync(Path.Combine(Folder, checkpointId + ".images"), string.Join(',', mine.Select(m => m.Image)));
        EmbeddingFile.Write(Path.Combine(Folder, checkpointId + ".f32"), mine.Select(m => m.Item2).ToList());
        vectors[checkpointId] = mine;
        metrics.Shared(fresh.Count);
        return found;
    }

    public Task<IReadOnlyList<SharedImage>> GetShared() => Task.FromResult<IReadOnlyList<SharedImage>>(state.State.Shared.ToList());

    private Dictionary<string, List<(int, float[])>> Load()
    {
        if (_vectors is not null) return _vectors;
        _vectors = [];
        if (!Directory.Exists(Folder)) return _vectors;
        foreach (var vectors in Directory.EnumerateFiles(Folder, "*.f32"))
        {
            string id = Path.GetFileNameWithoutExtension(vectors), images = Path.Combine(Folder, id + ".images");
            if (!File.Exists(images)) continue;
            var v = EmbeddingFile.Read(vectors);
            var i = File.ReadAllText(images).Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
            _vectors[id] = [.. i.Zip(v)];
        }
        return _vectors;
    }

    private static float[] Normalise(float[] v)
    {
        double norm = Math.Sqrt(Dot(v, v));
        return norm > 0 ? [.. v.Select(x => (float)(x / norm))] : v;
    }

    private static double Dot(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}
