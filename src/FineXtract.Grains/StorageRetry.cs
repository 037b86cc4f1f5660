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
        // Continue on the captured context: grain state may only be touched on the activation's scheduler, and Polly
        // otherwise resumes on the thread pool after a retry delay.
        var context = ResilienceContextPool.Shared.Get(continueOnCapturedContext: true);
        try
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
            }, context);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }
}
