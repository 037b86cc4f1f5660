using FineXtract.Checkpoints;
using FineXtract.Diffusion.Models;

namespace FineXtract.Extraction.Pipeline;

/// <summary>The pretrained components an extraction shares with every checkpoint fine-tuned from the same base.</summary>
public sealed class BaseModels : IDisposable
{
    public required string BasePath { get; init; }
    public required UNet2DConditionModel Unet { get; init; }
    public required ClipTextModel TextEncoder { get; init; }
    public required AutoencoderKL Vae { get; init; }

    public static BaseModels Load(string basePath)
    {
        var unet = ModelLoader.LoadUnet(basePath);
        try
        {
            var vae = ModelLoader.LoadVae(basePath);
            try
            {
                var te = ModelLoader.LoadTextEncoder(basePath, ExtractionModels.TextEncoderConfig(basePath));
                unet.eval();
                return new BaseModels { BasePath = basePath, Unet = unet, TextEncoder = te, Vae = vae };
            }
            catch
            {
                vae.Dispose();
                throw;
            }
        }
        catch
        {
            unet.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Unet.Dispose();
        TextEncoder.Dispose();
        Vae.Dispose();
    }
}

/// <summary>
/// Keeps loaded base models across extractions (a sampler serving thousands of LoRAs of one base loads it once).
/// Entries are reference counted: one in use is never evicted; unused ones are evicted least recently used first
/// once more than <see cref="Capacity"/> bases are loaded. Thread-safe.
/// </summary>
public sealed class BaseModelCache(int capacity = 1) : IDisposable
{
    private sealed class Entry(BaseModels models)
    {
        public BaseModels Models { get; } = models;
        public int Leases;
        public long LastUsed;
    }

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Lazy<BaseModels>> _loading = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private long _clock;
    private bool _disposed;

    public int Capacity { get; } = Math.Max(1, capacity);

    /// <summary>How many times a base was loaded from disk (a hit loads nothing).</summary>
    public int Loads { get; private set; }

    public int Count
    {
        get { lock (_lock) return _entries.Count; }
    }

    /// <summary>The base at <paramref name="basePath"/>, loaded if needed; dispose the lease when done with it.</summary>
    public BaseModelLease Acquire(string basePath)
    {
        string key = Key(basePath);
        Lazy<BaseModels> loader;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_entries.TryGetValue(key, out var hit))
            {
                hit.Leases++;
                hit.LastUsed = ++_clock;
                return new BaseModelLease(this, key, hit.Models);
            }
            if (!_loading.TryGetValue(key, out loader!))
            {
                loader = new Lazy<BaseModels>(() => BaseModels.Load(basePath), LazyThreadSafetyMode.ExecutionAndPublication);
                _loading[key] = loader;
            }
        }
        BaseModels models;
        try
        {
            models = loader.Value;
        }
        catch
        {
            lock (_lock) _loading.Remove(key);
            throw;
        }
        lock (_lock)
        {
            if (!_entries.TryGetValue(key, out var entry))
            {
                entry = new Entry(models);
                _entries[key] = entry;
                _loading.Remove(key);
                Loads++;
            }
            entry.Leases++;
            entry.LastUsed = ++_clock;
            EvictUnused();
            return new BaseModelLease(this, key, entry.Models);
        }
    }

    internal void Release(string key)
    {
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out var entry)) entry.Leases--;
            if (_disposed && entry is { Leases: 0 })
            {
                _entries.Remove(key);
                entry.Models.Dispose();
            }
            else EvictUnused();
        }
    }

    private void EvictUnused()
    {
        while (_entries.Count > Capacity)
        {
            var victim = _entries.Where(e => e.Value.Leases == 0).OrderBy(e => e.Value.LastUsed).FirstOrDefault();
            if (victim.Value is null) return;
            _entries.Remove(victim.Key);
            victim.Value.Models.Dispose();
        }
    }

    private static string Key(string path)
    {
        var full = Path.GetFullPath(path);
        var info = File.Exists(full) ? (FileSystemInfo)new FileInfo(full) : new DirectoryInfo(full);
        return $"{full}|{info.LastWriteTimeUtc.Ticks}";
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            foreach (var (key, entry) in _entries.Where(e => e.Value.Leases == 0).ToList())
            {
                _entries.Remove(key);
                entry.Models.Dispose();
            }
        }
    }
}

/// <summary>A base model in use; disposing it returns it to the cache (it stays loaded).</summary>
public sealed class BaseModelLease : IDisposable
{
    private readonly BaseModelCache _cache;
    private readonly string _key;
    private int _released;

    internal BaseModelLease(BaseModelCache cache, string key, BaseModels models)
    {
        _cache = cache;
        _key = key;
        Models = models;
    }

    public BaseModels Models { get; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) _cache.Release(_key);
    }
}
