using System.Net;
using System.Net.Sockets;

namespace FineXtract.Grains.Tests;

/// <summary>A tiny HTTP file server on 127.0.0.1 (range requests supported; counts requests per path).</summary>
public sealed class LocalFileServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Dictionary<string, string> _files = [];
    private readonly Task _loop;

    public int Port { get; }
    public Dictionary<string, int> Requests { get; } = [];

    public LocalFileServer()
    {
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public string Serve(string name, string file)
    {
        _files["/" + name] = file;
        return $"http://127.0.0.1:{Port}/{name}";
    }

    public static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception)
            {
                return;
            }
            string path = context.Request.Url!.AbsolutePath;
            lock (Requests) Requests[path] = Requests.GetValueOrDefault(path) + 1;
            try
            {
                if (!_files.TryGetValue(path, out var file))
                {
                    context.Response.StatusCode = 404;
                    continue;
                }
                var bytes = await File.ReadAllBytesAsync(file);
                long from = 0;
                if (context.Request.Headers["Range"] is { } range && range.StartsWith("bytes="))
                {
                    from = long.Parse(range[6..].TrimEnd('-').Split('-')[0]);
                    context.Response.StatusCode = 206;
                }
                context.Response.ContentLength64 = bytes.Length - from;
                await context.Response.OutputStream.WriteAsync(bytes.AsMemory((int)from));
            }
            finally
            {
                context.Response.Close();
            }
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
    }
}
