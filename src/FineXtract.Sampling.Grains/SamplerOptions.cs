namespace FineXtract.Sampling;

/// <summary>A sampler silo's limits: how many batches run at once (GPU memory is not something Orleans sees).</summary>
public sealed class SamplerOptions
{
    /// <summary>Concurrent batches (and open jobs) on this silo; 1 per GPU, or 1 on CPU.</summary>
    public int Slots { get; set; } = 1;

    /// <summary>Bases kept loaded at once.</summary>
    public int BaseModels { get; set; } = 1;
}

/// <summary>The silo's sampling slots: a batch or a job preparation holds one while it runs.</summary>
public sealed class SamplerSlots(Microsoft.Extensions.Options.IOptions<SamplerOptions> options)
{
    private readonly SemaphoreSlim _slots = new(Math.Max(1, options.Value.Slots));

    public async Task<IDisposable> AcquireAsync(CancellationToken cancel)
    {
        await _slots.WaitAsync(cancel);
        return new Release(_slots);
    }

    private sealed class Release(SemaphoreSlim slots) : IDisposable
    {
        private int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) slots.Release();
        }
    }
}
