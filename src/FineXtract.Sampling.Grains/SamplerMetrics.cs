using System.Diagnostics.Metrics;

namespace FineXtract.Sampling;

/// <summary>Meter "FineXtract.Sampling": images, UNet evaluations (and their rate), batches queued and in flight, batch duration.</summary>
public sealed class SamplerMetrics
{
    public const string MeterName = "FineXtract.Sampling";

    private readonly Counter<long> _images;
    private readonly Counter<long> _evaluations;
    private readonly UpDownCounter<long> _inFlight;
    private readonly UpDownCounter<long> _queued;
    private readonly Histogram<double> _duration;
    private double _lastRate;

    public SamplerMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _images = meter.CreateCounter<long>("finextract.sampler.images", "{image}", "Images generated");
        _evaluations = meter.CreateCounter<long>("finextract.sampler.unet.evaluations", "{evaluation}", "UNet evaluations (rate() gives evals/s)");
        _inFlight = meter.CreateUpDownCounter<long>("finextract.sampler.batches.in_flight", "{batch}", "Seed batches being generated");
        // Demand beyond this silo's slots: what an autoscaler adds sampler silos for.
        _queued = meter.CreateUpDownCounter<long>("finextract.sampler.batches.queued", "{batch}", "Seed batches waiting for a sampler slot on this silo");
        _duration = meter.CreateHistogram<double>("finextract.sampler.batch.duration", "s", "Time to render and embed one seed batch");
        meter.CreateObservableGauge("finextract.sampler.unet.evaluations_per_second", () => _lastRate, null,
            "UNet evaluations per second of the last batch");
    }

    public IDisposable BatchQueued()
    {
        _queued.Add(1);
        return new Done(() => _queued.Add(-1));
    }

    public IDisposable BatchStarted()
    {
        _inFlight.Add(1);
        return new Done(() => _inFlight.Add(-1));
    }

    public void BatchFinished(int images, long evaluations, double samplingSeconds, double totalSeconds)
    {
        _images.Add(images);
        _evaluations.Add(evaluations);
        _duration.Record(totalSeconds);
        if (samplingSeconds > 0) _lastRate = evaluations / samplingSeconds;
    }

    private sealed class Done(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}
