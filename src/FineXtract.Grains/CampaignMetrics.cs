using System.Diagnostics.Metrics;

namespace FineXtract.Grains;

/// <summary>Meter "FineXtract.Campaigns": checkpoints done and failed, evaluations saved by early stop, extraction hits, shared images.</summary>
public sealed class CampaignMetrics
{
    public const string MeterName = "FineXtract.Campaigns";

    private readonly Counter<long> _done;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _saved;
    private readonly Counter<long> _hits;
    private readonly Counter<long> _shared;
    private readonly UpDownCounter<long> _auditsRunning;

    public CampaignMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _done = meter.CreateCounter<long>("finextract.checkpoints.done", "{checkpoint}", "Checkpoint audits completed");
        _failed = meter.CreateCounter<long>("finextract.checkpoints.failed", "{checkpoint}", "Checkpoint audits failed (broken file, wrong base …)");
        _saved = meter.CreateCounter<long>("finextract.early_stop.evaluations_saved", "{evaluation}", "UNet evaluations not run because the clusters had settled");
        _hits = meter.CreateCounter<long>("finextract.extraction.hits", "{image}", "Extracted images matching a reference image (similarity >= 0.5)");
        _shared = meter.CreateCounter<long>("finextract.extraction.shared", "{pair}", "Extracted images shared by two checkpoints of a campaign");
        _auditsRunning = meter.CreateUpDownCounter<long>("finextract.audits.running", "{checkpoint}", "Checkpoint audits running on this silo");
    }

    public void Finished(AuditStatus status)
    {
        if (status.State == CheckpointState.Done) _done.Add(1);
        else if (status.State == CheckpointState.Failed) _failed.Add(1);
        if (status.EvaluationsSavedByEarlyStop > 0) _saved.Add(status.EvaluationsSavedByEarlyStop);
        if (status.Hits > 0) _hits.Add(status.Hits);
    }

    public void Shared(int pairs)
    {
        if (pairs > 0) _shared.Add(pairs);
    }

    public IDisposable AuditRunning()
    {
        _auditsRunning.Add(1);
        return new Done(() => _auditsRunning.Add(-1));
    }

    private sealed class Done(Action action) : IDisposable
    {
        private int _once;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _once, 1) == 0) action();
        }
    }
}
