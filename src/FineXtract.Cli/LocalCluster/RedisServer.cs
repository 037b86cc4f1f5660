using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace FineXtract.Cli.LocalCluster;

/// <summary>
/// A private redis-server on a free 127.0.0.1 port, with an append-only file fsynced on every write (grain state
/// survives a restart): for `bench campaign` and the integration tests. A missing redis-server is an error, never a skip.
/// </summary>
public sealed class RedisServer : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fx-redis-").FullName;
    private Process? _process;

    public int Port { get; } = FreePort();
    public string Connection => $"127.0.0.1:{Port}";

    public RedisServer() => Start();

    public static string Executable =>
        new[] { Environment.GetEnvironmentVariable("REDIS_SERVER"), "/usr/bin/redis-server", "/usr/local/bin/redis-server" }
            .FirstOrDefault(p => p is not null && File.Exists(p))
        ?? throw new InvalidOperationException("redis-server not found: install it (apt-get install redis-server) or set REDIS_SERVER");

    public void Start()
    {
        var info = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _dir,
        };
        foreach (var a in new[] { "--port", Port.ToString(), "--bind", "127.0.0.1", "--dir", _dir, "--save", "", "--appendonly", "yes",
                     "--appendfsync", "always", "--protected-mode", "no" })
            info.ArgumentList.Add(a);
        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(50);
            }
        }
    }

    /// <summary>Kills the server (SIGKILL: every write was fsynced) and starts it again on the same port and data.</summary>
    public void Restart(TimeSpan down)
    {
        Stop();
        Thread.Sleep(down);
        Start();
    }

    public void Stop()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process?.Dispose();
        _process = null;
    }

    public static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        Stop();
        try
        {
            Directory.Delete(_dir, true);
        }
        catch (IOException)
        {
        }
    }
}
