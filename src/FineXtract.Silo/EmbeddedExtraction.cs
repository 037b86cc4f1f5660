using FineXtract.Extraction.Evidence;
using FineXtract.Extraction.Pipeline;
using FineXtract.Grains;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FineXtract.Silo;

/// <summary>
/// `finextract extract`: one checkpoint through the grains of an embedded single-process silo (localhost clustering,
/// in-memory storage), so the single-machine path and the cluster run the same orchestration and the same core code.
/// Progress comes from polling the audit grain; cancelling asks the audit to stop, which still writes a valid partial
/// result over the images generated so far.
/// </summary>
public sealed class EmbeddedSilo : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly bool _ownsArtifacts;

    private EmbeddedSilo(IHost host, string artifacts, bool ownsArtifacts)
    {
        _host = host;
        Artifacts = artifacts;
        _ownsArtifacts = ownsArtifacts;
    }

    public IGrainFactory Grains => _host.Services.GetRequiredService<IGrainFactory>();

    /// <summary>Work folders and the download cache (a temporary folder, removed with the silo, unless one was given).</summary>
    public string Artifacts { get; }

    public static async Task<EmbeddedSilo> StartAsync(string? artifacts = null, CancellationToken cancel = default)
    {
        string root = artifacts ?? Directory.CreateTempSubdirectory("finextract-embedded-").FullName;
        var settings = new SiloSettings
        {
            Redis = null,
            Role = SiloRole.All,
            SiloPort = SiloHost.FreePort(),
            GatewayPort = SiloHost.FreePort(),
            HttpPort = null,
            Artifacts = root,
            ClusterId = $"embedded-{Guid.NewGuid():N}",
            ServiceId = "finextract-embedded",
            PollInterval = TimeSpan.FromMilliseconds(250),
        };
        var host = SiloHost.BuildEmbedded(settings);
        await host.StartAsync(cancel);
        return new EmbeddedSilo(host, root, artifacts is null);
    }

    /// <summary>Runs one extraction request to its evidence folder and returns what results.json says.</summary>
    public async Task<ExtractionResults> ExtractAsync(ExtractionRequest request, IProgress<ExtractionProgress>? progress, CancellationToken cancel)
    {
        request.Validate();
        string id = $"extract-{Guid.NewGuid():N}";
        var (entry, parameters) = RequestBuilder.Split(request, id);
        var spec = new AuditSpec(null, entry, parameters, Path.GetFullPath(request.OutputFolder), Path.Combine(Artifacts, "work", id),
            Path.Combine(Artifacts, "cache"));
        var audit = Grains.GetGrain<ICheckpointAuditGrain>(id);
        var status = await audit.Start(spec);
        bool cancelled = false;
        var started = DateTime.UtcNow;
        while (!status.State.IsTerminal())
        {
            try
            {
                await Task.Delay(100, cancelled ? CancellationToken.None : cancel);
            }
            catch (OperationCanceledException) when (!cancelled)
            {
                cancelled = true;
                await audit.Cancel();
            }
            status = await audit.GetStatus();
            Report(progress, status, request.Images, started);
        }
        if (status.State == CheckpointState.Failed) throw new FineXtractException(status.Reason ?? "the extraction failed");
        var results = ResultsJson.Read(Path.Combine(request.OutputFolder, EvidenceBuilder.ResultsFile));
        progress?.Report(new ExtractionProgress(results.Status == "completed" ? "done" : results.Status, results.Generated.Count, request.Images, 0, TimeSpan.Zero));
        return results;
    }

    private static void Report(IProgress<ExtractionProgress>? progress, AuditStatus s, int images, DateTime started)
    {
        if (progress is null || s.State.IsTerminal()) return;
        double rate = s.SamplingSeconds > 0 ? s.UNetEvaluations / s.SamplingSeconds : 0;
        TimeSpan? remaining = s.ImagesDone > 0 && s.Phase == "sampling"
            ? TimeSpan.FromSeconds((DateTime.UtcNow - started).TotalSeconds / s.ImagesDone * (images - s.ImagesDone))
            : null;
        progress.Report(new ExtractionProgress(s.Phase, s.ImagesDone, images, rate, remaining));
    }

    /// <summary>Starts an embedded silo, runs the request, stops the silo.</summary>
    public static async Task<ExtractionResults> RunAsync(ExtractionRequest request, IProgress<ExtractionProgress>? progress = null, CancellationToken cancel = default)
    {
        await using var silo = await StartAsync(cancel: CancellationToken.None);
        return await silo.ExtractAsync(request, progress, cancel);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _host.StopAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            _host.Dispose();
            if (_ownsArtifacts)
            {
                try
                {
                    Directory.Delete(Artifacts, true);
                }
                catch (IOException)
                {
                }
            }
        }
    }
}
