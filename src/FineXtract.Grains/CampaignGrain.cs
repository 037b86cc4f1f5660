using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FineXtract.Grains;

[GenerateSerializer, Alias("fx.CampaignGrainState")]
public sealed class CampaignGrainState
{
    [Id(0)] public string? Name { get; set; }
    [Id(1)] public DateTimeOffset CreatedAt { get; set; }
    [Id(2)] public DateTimeOffset? FinishedAt { get; set; }
    [Id(3)] public CampaignState State { get; set; }
    [Id(4)] public CampaignParameters Parameters { get; set; } = new();
    /// <summary>One record per manifest entry, in manifest order.</summary>
    [Id(5)] public List<CheckpointStatus> Checkpoints { get; set; } = [];
    [Id(6)] public bool Submitted { get; set; }
}

/// <summary>The manifest, written once at submission (kept apart so progress writes stay small).</summary>
[GenerateSerializer, Alias("fx.CampaignManifestState")]
public sealed class CampaignManifestState
{
    [Id(0)] public List<CheckpointEntry> Entries { get; set; } = [];
}

/// <summary>
/// One bulk audit. Starts checkpoint audits up to the campaign's parallelism, hears from them when they finish (and
/// polls the running ones, which also revives an audit whose silo died), records each checkpoint's outcome exactly
/// once, and writes the final summary. State is durable; a reminder brings the campaign back after a restart.
/// </summary>
public sealed class CampaignGrain(
    [PersistentState("campaign")] IPersistentState<CampaignGrainState> state,
    [PersistentState("campaign-manifest")] IPersistentState<CampaignManifestState> manifest,
    IOptions<CampaignOptions> options,
    IOptions<ArtifactOptions> artifacts,
    ILogger<CampaignGrain> log) : Grain, ICampaignGrain, IRemindable
{
    private const string ReminderName = "campaign-supervisor";
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private Dictionary<string, int>? _index;
    private IGrainTimer? _timer;
    private bool _dirty;
    private bool _ticking;
    private DateTime _lastWrite;
    private static readonly TimeSpan PersistInterval = TimeSpan.FromSeconds(2);

    private string Id => this.GetPrimaryKeyString();
    private CampaignGrainState S => state.State;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (S.Submitted && !AllTerminal()) StartTimer();
        return Task.CompletedTask;
    }

    public async Task<CampaignStatus> Submit(CampaignSubmission submission)
    {
        if (S.Submitted) return Status();
        Validate(submission);
        manifest.State = new CampaignManifestState { Entries = [.. submission.Checkpoints] };
        await StorageRetry.WriteAsync(manifest);
        S.Name = submission.Name;
        S.CreatedAt = DateTimeOffset.UtcNow;
        S.State = CampaignState.Running;
        S.Parameters = submission.Parameters;
        S.Checkpoints = [.. submission.Checkpoints.Select(c => new CheckpointStatus(c.Id, CheckpointState.Queued, null, 0, 0, 0, 0, 0, 0, null, 0))];
        S.Submitted = true;
        await PersistAsync();
        await this.RegisterOrUpdateReminder(ReminderName, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1));
        StartTimer();
        await StartQueuedAsync();
        return Status();
    }

    private static void Validate(CampaignSubmission submission)
    {
        if (submission.Checkpoints.Count == 0) throw new FineXtractException("the manifest has no checkpoints");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var c in submission.Checkpoints)
        {
            if (!ManifestIds.IsValid(c.Id)) throw new FineXtractException($"checkpoint id '{c.Id}': use letters, digits, '.', '_' and '-' (1-128)");
            if (!seen.Add(c.Id)) throw new FineXtractException($"checkpoint id '{c.Id}' appears twice in the manifest");
            if (string.IsNullOrWhiteSpace(c.Base)) throw new FineXtractException($"checkpoint '{c.Id}': no base");
        }
        RequestBuilder.Validate(submission.Parameters.Extraction);
        if (submission.Parameters.Parallel is < 1) throw new FineXtractException("--parallel must be at least 1");
    }

    public Task<CampaignStatus?> GetStatus() => Task.FromResult(S.Submitted ? Status() : null);

    public Task<IReadOnlyList<CheckpointStatus>> GetCheckpoints(int offset, int count) =>
        Task.FromResult<IReadOnlyList<CheckpointStatus>>(S.Checkpoints.Skip(Math.Max(0, offset)).Take(Math.Max(0, count)).ToList());

    public async Task Cancel()
    {
        if (!S.Submitted || S.State != CampaignState.Running) return;
        S.State = CampaignState.Cancelled;
        var running = new List<string>();
        for (int i = 0; i < S.Checkpoints.Count; i++)
        {
            var c = S.Checkpoints[i];
            if (c.State == CheckpointState.Queued) S.Checkpoints[i] = c with { State = CheckpointState.Cancelled, Reason = "campaign cancelled" };
            else if (!c.State.IsTerminal()) running.Add(c.Id);
        }
        await PersistAsync();
        await Task.WhenAll(running.Select(id => Audit(id).Cancel()));
        await CheckCompletionAsync();
    }

    public async Task OnCheckpointFinished(string checkpointId, AuditStatus status)
    {
        if (!S.Submitted) return;
        Record(checkpointId, status);
        await StartQueuedAsync();
        await CheckCompletionAsync();
    }

    public async Task<CampaignReport?> GetReport()
    {
        if (!S.Submitted) return null;
        var shared = await GrainFactory.GetGrain<ICampaignIndexGrain>(Id).GetShared();
        return new CampaignReport(Status() with { SharedImages = shared.Count }, [.. S.Checkpoints], shared, S.Parameters);
    }

    public async Task<byte[]?> ReadEvidenceFile(string checkpointId, string relativePath)
    {
        if (!ManifestIds.IsValid(checkpointId)) return null;
        string folder = Path.GetFullPath(artifacts.Value.CheckpointFolder(Id, checkpointId)) + Path.DirectorySeparatorChar;
        string path = Path.GetFullPath(Path.Combine(folder, relativePath));
        if (!path.StartsWith(folder, StringComparison.Ordinal) || !File.Exists(path)) return null;
        return await File.ReadAllBytesAsync(path);
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (!S.Submitted || AllTerminal())
        {
            var reminder = await this.GetReminder(reminderName);
            if (reminder is not null) await this.UnregisterReminder(reminder);
            return;
        }
        StartTimer();
    }

    private void StartTimer()
    {
        _timer ??= this.RegisterGrainTimer(TickAsync, new GrainTimerCreationOptions(options.Value.PollInterval, options.Value.PollInterval)
        {
            Interleave = true,
            KeepAlive = true,
        });
    }

    /// <summary>Polls running audits (reviving any whose silo died), starts queued ones, writes progress, finishes the campaign.</summary>
    private async Task TickAsync(CancellationToken cancel)
    {
        if (_ticking) return;
        _ticking = true;
        try
        {
            var running = S.Checkpoints.Where(c => c.State is not CheckpointState.Queued && !c.State.IsTerminal()).Select(c => c.Id).ToList();
            foreach (var chunk in running.Chunk(256))
            {
                await Task.WhenAll(chunk.Select(async id =>
                {
                    try
                    {
                        Record(id, await Audit(id).Start(Spec(id)));
                    }
                    catch (Exception e) when (Failures.IsInfrastructure(e))
                    {
                        log.LogInformation("campaign {Id}: audit {Checkpoint} unreachable for now ({Error})", Id, id, Failures.Reason(e));
                    }
                }));
            }
            await StartQueuedAsync();
            // Progress is written at most every couple of seconds (10,000 records per write); the audits' own state is
            // the source of truth, so a campaign that dies between writes re-learns what it missed from them.
            if (_dirty && DateTime.UtcNow - _lastWrite >= PersistInterval) await PersistAsync();
            await CheckCompletionAsync();
        }
        catch (Exception e)
        {
            log.LogWarning(e, "campaign {Id}: supervision tick failed", Id);
        }
        finally
        {
            _ticking = false;
        }
    }

    private bool _starting;

    private async Task StartQueuedAsync()
    {
        if (S.State != CampaignState.Running || _starting) return;
        _starting = true;
        try
        {
            int parallel = S.Parameters.Parallel ?? options.Value.DefaultParallel;
            while (true)
            {
                int inFlight = S.Checkpoints.Count(c => c.State is not CheckpointState.Queued && !c.State.IsTerminal());
                var next = S.Checkpoints.Where(c => c.State == CheckpointState.Queued).Take(parallel - inFlight).Select(c => c.Id).ToList();
                if (next.Count == 0) return;
                // Mark before the calls so a concurrent tick does not start them twice (Start is idempotent anyway).
                foreach (var id in next) Set(id, c => c with { State = CheckpointState.Fetching });
                await Task.WhenAll(next.Select(async id =>
                {
                    try
                    {
                        Record(id, await Audit(id).Start(Spec(id)));
                    }
                    catch (Exception e) when (Failures.IsInfrastructure(e))
                    {
                        log.LogInformation("campaign {Id}: could not start {Checkpoint} yet ({Error})", Id, id, Failures.Reason(e));
                    }
                }));
                _dirty = true;
            }
        }
        finally
        {
            _starting = false;
        }
    }

    private AuditSpec Spec(string checkpointId)
    {
        var entry = manifest.State.Entries[Index()[checkpointId]];
        var a = artifacts.Value;
        return new AuditSpec(Id, entry, S.Parameters.Extraction, a.CheckpointFolder(Id, entry.Id), a.WorkFolder(Id, entry.Id), a.CacheFolder,
            S.Parameters.MaxDownloadBytes ?? AuditSpec.DefaultMaxDownloadBytes, false, S.Parameters.ShareThreshold ?? AuditSpec.DefaultShareThreshold);
    }

    private ICheckpointAuditGrain Audit(string checkpointId) => GrainFactory.GetGrain<ICheckpointAuditGrain>($"{Id}/{checkpointId}");

    /// <summary>Takes an audit's status; a terminal state is recorded once and never changes after.</summary>
    private void Record(string checkpointId, AuditStatus a)
    {
        Set(checkpointId, c => c.State.IsTerminal()
            ? c
            : new CheckpointStatus(c.Id, a.State == CheckpointState.Queued ? CheckpointState.Fetching : a.State, a.Reason, a.ImagesDone, a.ImagesPlanned,
                a.UNetEvaluations, a.EvaluationsSavedByEarlyStop, a.Extracted, a.Hits, a.AverageSimilarity,
                a.FinishedAt is { } f && a.StartedAt is { } s ? (f - s).TotalSeconds : 0));
    }

    private void Set(string checkpointId, Func<CheckpointStatus, CheckpointStatus> change)
    {
        if (!Index().TryGetValue(checkpointId, out int i)) return;
        var before = S.Checkpoints[i];
        var after = change(before);
        if (after == before) return;
        S.Checkpoints[i] = after;
        _dirty = true;
    }

    private Dictionary<string, int> Index() =>
        _index ??= manifest.State.Entries.Select((e, i) => (e.Id, i)).ToDictionary(x => x.Id, x => x.i, StringComparer.Ordinal);

    private bool AllTerminal() => S.Checkpoints.All(c => c.State.IsTerminal());

    private async Task CheckCompletionAsync()
    {
        if (!S.Submitted || S.FinishedAt is not null || !AllTerminal()) return;
        if (S.State == CampaignState.Running) S.State = CampaignState.Completed;
        S.FinishedAt = DateTimeOffset.UtcNow;
        await PersistAsync();
        _timer?.Dispose();
        _timer = null;
        try
        {
            var report = await GetReport();
            string folder = artifacts.Value.CampaignFolder(Id);
            Directory.CreateDirectory(folder);
            await File.WriteAllTextAsync(Path.Combine(folder, "summary.json"), JsonSerializer.Serialize(report, JsonDefaults.Output));
            var reminder = await this.GetReminder(ReminderName);
            if (reminder is not null) await this.UnregisterReminder(reminder);
        }
        catch (Exception e)
        {
            log.LogWarning(e, "campaign {Id}: finishing touches failed", Id);
        }
    }

    private CampaignStatus Status()
    {
        var counts = Enum.GetValues<CheckpointState>().ToDictionary(s => s.Name(), s => 0);
        foreach (var c in S.Checkpoints) counts[c.State.Name()]++;
        return new CampaignStatus
        {
            Id = Id,
            Name = S.Name,
            State = S.State,
            Total = S.Checkpoints.Count,
            Counts = counts,
            CreatedAt = S.CreatedAt,
            FinishedAt = S.FinishedAt,
            ImagesGenerated = S.Checkpoints.Sum(c => (long)c.ImagesDone),
            UNetEvaluations = S.Checkpoints.Sum(c => c.UNetEvaluations),
            EvaluationsSavedByEarlyStop = S.Checkpoints.Sum(c => c.EvaluationsSaved),
            Hits = S.Checkpoints.Sum(c => c.Hits),
            OutputFolder = artifacts.Value.CampaignFolder(Id),
        };
    }

    private async Task PersistAsync()
    {
        await _writeLock.WaitAsync();
        try
        {
            _dirty = false;
            _lastWrite = DateTime.UtcNow;
            await StorageRetry.WriteAsync(state);
        }
        catch
        {
            _dirty = true;
            throw;
        }
        finally
        {
            _writeLock.Release();
        }
    }
}
