using System.Diagnostics;

namespace FineXtract.Deploy.Tests;

/// <summary>The repository checkout and external processes (helm, kubectl, node, bash) run from its root.</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string Path_(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "FineXtract.Cluster.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no FineXtract.Cluster.sln above {AppContext.BaseDirectory}");
    }

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string Output => Stdout + Stderr;
    }

    public static Result Run(string file, IEnumerable<string> args, string? stdin = null, IDictionary<string, string>? env = null,
        TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        if (env is not null)
            foreach (var (k, v) in env) info.Environment[k] = v;
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
