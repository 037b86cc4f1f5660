using Polly;
using Orleans.Storage;
using Polly.Retry;

namespace FineXtract.Grains;

/// <summary>Grain-state writes ride out a storage outage (Redis restarting) instead of failing the work they record.</summary>
public static class StorageRetry
{
    private static readonly ResiliencePipeline Pipeline = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(e => e is not InconsistentStateException && Failures.IsInfrastructure(e)),
            MaxRetryAttempts = 12,
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromMilliseconds(200),
            MaxDelay = TimeSpan.FromSeconds(5),
            UseJitter = true,
        })
        .Build();

    public static async Task WriteAsync<T>(IPersistentState<T> state)
    {
        await Pipeline.ExecuteAsync(async _ =>
        {
            try
            {
                await state.WriteStateAsync();
            }
            catch (InconsistentStateException)
            {
                // A write that landed although its reply was lost: take the stored ETag and write our (newer) value again.
                var mine = state.State;
                await state.ReadStateAsync();
                state.State = mine;
                await state.WriteStateAsync();
            }
        });
    }

    public static ValueTask<T> RunAsync<T>(Func<CancellationToken, ValueTask<T>> call, CancellationToken cancel = default) =>
        Pipeline.ExecuteAsync(call, cancel);
}
