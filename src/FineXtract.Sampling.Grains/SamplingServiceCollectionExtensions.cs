using FineXtract.Extraction.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FineXtract.Sampling;

public static class SamplingServiceCollectionExtensions
{
    /// <summary>
    /// Registers what sampler grains need on a sampler-role silo: slots, metrics and a backend (the TorchSharp pipeline
    /// with a base-model cache, or the sleeping stand-in when <paramref name="sleepPerBatch"/> is set).
    /// </summary>
    public static IServiceCollection AddFineXtractSampling(this IServiceCollection services, Action<SamplerOptions>? configure = null,
        TimeSpan? sleepPerBatch = null)
    {
        services.AddOptions<SamplerOptions>().Configure(o => configure?.Invoke(o));
        services.AddSingleton<SamplerSlots>();
        services.AddSingleton<SamplerMetrics>();
        services.AddSingleton(sp => new BaseModelCache(sp.GetRequiredService<IOptions<SamplerOptions>>().Value.BaseModels));
        if (sleepPerBatch is { } sleep) services.AddSingleton<ISamplerBackend>(new SleepSamplerBackend(sleep));
        else services.AddSingleton<ISamplerBackend>(sp => new TorchSamplerBackend(sp.GetRequiredService<BaseModelCache>()));
        return services;
    }
}
