using System.Diagnostics;
using System.Text;

namespace FineXtract.Cli.LocalCluster;

/// <summary>A `finextract silo` process on its own ports, joined to a Redis-registered cluster (benchmarks, tests).</summary>
public sealed class SiloProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    public string Role { get; }
    public int SiloPort { get; } = RedisServer.FreePort();
    public int GatewayPort { get; } = RedisServer.FreePort();
    public int HttpPort { get; } = RedisServer.FreePort();

    public SiloProcess(string redis, string clusterId, string role, string artifacts)
        : this(FinextractDll, redis, clusterId, role, artifacts)
    {
    }

    public SiloProcess(string finextractDll, string redis, string clusterId, string role, string artifacts, params string[] extra)
    {
        Role = role;
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.Environment["FINEXTRACT_LOG"] = "Warning";
        foreach (var a in new[]
                 {
                     finextractDll, "silo", "--redis", redis, "--cluster-id", clusterId, "--role", role, "--silo-port", SiloPort.ToString(),
                     "--gateway-port", GatewayPort.ToString(), "--http-port", HttpPort.ToString(), "--artifacts", artifacts, "--advertise", "127.0.0.1",
                     "--fast-failure-detection", "--poll-ms", "300",
                 }.Concat(extra))
            info.ArgumentList.Add(a);
        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { lock (_log) _log.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Log
    {
        get { lock (_log) return _log.ToString(); }
    }

    /// <summary>
    /// The CLI's own build output: src/FineXtract.Cli/bin/&lt;configuration&gt;/&lt;framework&gt;/finextract.dll when this runs from
    /// a test project's bin folder (same configuration), else this very assembly.
    /// </summary>
    public static string FinextractDll
    {
        get
        {
            var bin = new DirectoryInfo(AppContext.BaseDirectory);
            string configuration = bin.Parent?.Name ?? "Debug", framework = bin.Name;
            for (var dir = bin; dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "src", "FineXtract.Cli", "bin", configuration, framework, "finextract.dll");
                if (File.Exists(candidate)) return candidate;
            }
            return typeof(SiloProcess).Assembly.Location;
        }
    }

    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"silo exited with {_process.ExitCode}:\n{Log}");
            try
            {
                if ((await http.GetAsync($"http://127.0.0.1:{HttpPort}/healthz/ready")).IsSuccessStatusCode) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"silo not ready after {timeout}:\n{Log}");
            await Task.Delay(200);
        }
    }

    public async Task<string> MetricsAsync()
    {
        using var http = new HttpClient();
        return await http.GetStringAsync($"http://127.0.0.1:{HttpPort}/metrics");
    }

    /// <summary>CPU time the process has used so far (user + system).</summary>
    public double CpuSeconds()
    {
        try
        {
            _process.Refresh();
            return _process.TotalProcessorTime.TotalSeconds;
        }
        catch (InvalidOperationException)
        {
            return 0;
        }
    }

    /// <summary>Kills the process outright (no graceful shutdown), as a crashed node.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
