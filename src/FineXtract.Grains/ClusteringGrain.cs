using FineXtract.Extraction.Clustering;

namespace FineXtract.Grains;

/// <summary>
/// One checkpoint's incremental clustering: appends each batch's embeddings to a <see cref="SimilarityGraph"/> in image
/// order (batches that arrive early wait), re-runs the clique clustering and tracks the cluster set (each
/// selected cluster named by its earliest image); "stable" once it has not changed for <see cref="ClusteringSettings.Patience"/> merges. Memory only: its
/// audit grain holds the durable batch records and rebuilds it after a restart.
/// </summary>
public sealed class ClusteringGrain : Grain, IClusteringGrain
{
    private ClusteringSettings _settings = new(ExtractionDefaultsExpected, CliqueClusteringOptions.DefaultWorkBudget, false, 3, 0);
    private SimilarityGraph? _graph;
    private readonly List<float[]> _embeddings = [];
    private readonly SortedDictionary<long, float[][]> _pending = [];
    private readonly SortedSet<long> _batches = [];
    private string? _fingerprint;
    private int _unchanged;
    private int _clusters;

    private const int ExtractionDefaultsExpected = 10;

    public Task Configure(ClusteringSettings settings)
    {
        _settings = settings;
        return Task.CompletedTask;
    }

    public async Task<ClusterUpdate> AddBatch(long start, float[][] embeddings)
    {
        if (_batches.Contains(start) || start < _embeddings.Count) return Update();
        _batches.Add(start);
        _pending[start] = embeddings;
        bool appended = false;
        while (_pending.Count > 0 && _pending.First().Key == _embeddings.Count)
        {
            var (key, batch) = _pending.First();
            _pending.Remove(key);
            if (batch.Length == 0) break;
            _graph ??= new SimilarityGraph(batch[0].Length);
            _graph.Append(batch);
            _embeddings.AddRange(batch);
            appended = true;
        }
        if (appended && _settings.Patience > 0 && _embeddings.Count >= Math.Max(1, Math.Max(_settings.Expected, _settings.MinImages)))
        {
            var graph = _graph!;
            var options = new CliqueClusteringOptions(Expected: Math.Min(_settings.Expected, _embeddings.Count), WorkBudget: _settings.WorkBudget,
                Selection: _settings.ExactN ? SelectionMode.ExactN : SelectionMode.Faithful);
            var result = await Task.Run(() => CliqueClustering.Run(graph, options));
            _clusters = result.M;
            // The cluster set, each cluster named by its earliest image (indices never change as batches are appended);
            // members keep joining and representatives may move between near-duplicates, which is no new image.
            var fingerprint = string.Join(',', result.SelectedClusters.Select(c => c.Members[0]).Order());
            _unchanged = fingerprint == _fingerprint ? _unchanged + 1 : 0;
            _fingerprint = fingerprint;
        }
        return Update();
    }

    private ClusterUpdate Update() =>
        new(_embeddings.Count, _clusters, _fingerprint, _unchanged, _settings.Patience > 0 && _unchanged >= _settings.Patience, [.. _batches]);

    public Task<float[][]> GetEmbeddings() => Task.FromResult(_embeddings.ToArray());

    public Task Clear()
    {
        DeactivateOnIdle();
        return Task.CompletedTask;
    }
}
