using System.Diagnostics;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using FineXtract.Cli.LocalCluster;
using FineXtract.Silo;

namespace FineXtract.Deploy.Tests;

/// <summary>
/// The Dockerfile (no Docker daemon here): it lints, every path it copies exists, the restore step sees every project
/// the CLI needs, and its HEALTHCHECK script tells a running `finextract silo` from a dead one.
/// </summary>
public sealed partial class DockerfileTests
{
    private static readonly string Dockerfile = Repo.Path_("Dockerfile");

    /// <summary>Dockerfile instructions with continuation lines joined and comments dropped.</summary>
    private static List<string> Instructions()
    {
        var lines = new List<string>();
        string pending = "";
        foreach (var raw in File.ReadAllLines(Dockerfile))
        {
            string line = raw.Trim();
            if (pending.Length == 0 && (line.Length == 0 || line.StartsWith('#'))) continue;
            if (line.EndsWith('\\'))
            {
                pending += line[..^1] + " ";
                continue;
            }
            lines.Add(pending + line);
            pending = "";
        }
        return lines;
    }

    [GeneratedRegex(@"^COPY\s+(?<args>.+)$")] private static partial Regex Copy();

    /// <summary>Sources of the COPY instructions that read the build context (not --from=stage), with their destinations.</summary>
    private static List<(string[] Sources, string Destination)> ContextCopies() =>
    [
        .. Instructions().Select(i => Copy().Match(i)).Where(m => m.Success)
            .Select(m => m.Groups["args"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(words => !words.Any(w => w.StartsWith("--from=")))
            .Select(words => words.Where(w => !w.StartsWith("--")).ToArray())
            .Select(words => (words[..^1], words[^1])),
    ];

    [Fact]
    public void EveryCopiedPathExists()
    {
        var copies = ContextCopies();
        Assert.True(copies.Count >= 5);
        foreach (var source in copies.SelectMany(c => c.Sources))
            Assert.True(File.Exists(Repo.Path_(source)) || Directory.Exists(Repo.Path_(source)), $"COPY {source}: not in the repository");
    }

    private static IEnumerable<string> ProjectClosure(string project)
    {
        var seen = new HashSet<string>();
        var pending = new Stack<string>([Path.GetFullPath(project)]);
        while (pending.TryPop(out var current))
        {
            if (!seen.Add(current)) continue;
            foreach (var reference in XDocument.Load(current).Descendants("ProjectReference"))
                pending.Push(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(current)!, reference.Attribute("Include")!.Value.Replace('\\', '/'))));
        }
        return seen.Select(p => Path.GetRelativePath(Repo.Root, p));
    }

    [Fact]
    public void TheRestoreStepSeesEveryProjectTheCliReferences()
    {
        var instructions = Instructions();
        int restore = instructions.FindIndex(i => i.Contains("dotnet restore"));
        Assert.True(restore > 0);
        string restored = Regex.Match(instructions[restore], @"dotnet restore\s+(\S+)").Groups[1].Value;
        Assert.Equal("src/FineXtract.Cli/FineXtract.Cli.csproj", restored);
        var copiedBeforeRestore = instructions.Take(restore).Select(i => Copy().Match(i)).Where(m => m.Success)
            .SelectMany(m => m.Groups["args"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToHashSet();
        var closure = ProjectClosure(Repo.Path_(restored)).ToList();
        Assert.Contains("src/FineXtract.Silo/FineXtract.Silo.csproj", closure);
        foreach (var project in closure)
            Assert.True(copiedBeforeRestore.Contains(project), $"{project} is referenced by the CLI but not copied before `dotnet restore`");
        foreach (var props in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props" })
            Assert.Contains(props, copiedBeforeRestore);
    }

    [Fact]
    public void TheImageRunsTheSiloAsANonRootUserWithAHealthCheckAndBothTorchBackends()
    {
        var instructions = Instructions();
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"/app/finextract.dll\"]", instructions);
        Assert.Contains(instructions, i => i.StartsWith("CMD [\"silo\""));
        Assert.Contains("USER $APP_UID", instructions);
        Assert.Contains(instructions, i => i.StartsWith("HEALTHCHECK ") && i.Contains("/usr/local/bin/finextract-healthcheck"));
        Assert.Contains("FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build", instructions);
        Assert.Contains("FROM mcr.microsoft.com/dotnet/aspnet:10.0-noble AS runtime-base", instructions);
        Assert.Contains("FROM runtime-${TORCH_BACKEND} AS runtime", instructions);
        Assert.Contains(instructions, i => i.Contains("AS runtime-cpu"));
        Assert.Contains(instructions, i => i.Contains("AS runtime-cuda"));
        Assert.Contains(instructions, i => i.Contains("-p:TorchBackend=${TORCH_BACKEND}") && i.Contains("dotnet publish"));
        // TorchBackend=cuda selects TorchSharp-cuda-linux (Directory.Build.targets), which central package management pins.
        Assert.Contains("TorchSharp-cuda-linux", File.ReadAllText(Repo.Path_("Directory.Build.targets")));
        Assert.Contains("\"TorchSharp-cuda-linux\"", File.ReadAllText(Repo.Path_("Directory.Packages.props")));
    }

    [Fact]
    public void LintsClean()
    {
        var result = Lint(Dockerfile);
        Assert.True(result.ExitCode == 0, result.Output);
    }

    [Fact]
    public void TheLinterRejectsABrokenDockerfile()
    {
        string broken = Path.Combine(Directory.CreateTempSubdirectory("fx-dockerfile-").FullName, "Dockerfile");
        File.WriteAllText(broken, "FROM scratch\nEXPOSE http\nHEALTHCHECK --interval=soon CMD true\n");
        var result = Lint(broken);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Invalid containerPort: http", result.Output);
        Directory.Delete(Path.GetDirectoryName(broken)!, true);
    }

    private static Repo.Result Lint(string file)
    {
        _ = DeployTools.Helm; // installs the node modules
        return Repo.Run("node", [Path.Combine(DeployTools.Tools, "node_modules", "dockerfile-utils", "bin", "dockerfile-utils"), "lint", file]);
    }

    private static Repo.Result HealthCheck(int port) =>
        Repo.Run("bash", [Repo.Path_("deploy", "docker", "healthcheck.sh")], env: new Dictionary<string, string> { ["FINEXTRACT_HTTP_PORT"] = port.ToString() },
            timeout: TimeSpan.FromSeconds(30));

    [Fact]
    public async Task TheHealthCheckPassesOnARunningSiloAndFailsWithoutOne()
    {
        // `finextract silo` as the image runs it, the HTTP port from $FINEXTRACT_HTTP_PORT as the image sets it.
        int port = SiloHost.FreePort();
        string artifacts = Directory.CreateTempSubdirectory("fx-health-").FullName;
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { SiloProcess.FinextractDll, "silo", "--silo-port", SiloHost.FreePort().ToString(), "--gateway-port", SiloHost.FreePort().ToString(),
                     "--artifacts", artifacts, "--cluster-id", $"health-{Guid.NewGuid():N}" })
            info.ArgumentList.Add(a);
        info.Environment["FINEXTRACT_HTTP_PORT"] = port.ToString();
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        try
        {
            Assert.NotEqual(0, HealthCheck(port).ExitCode);
            var timer = Stopwatch.StartNew();
            Repo.Result check;
            while ((check = HealthCheck(port)).ExitCode != 0 && !process.HasExited && timer.Elapsed < TimeSpan.FromMinutes(2))
                await Task.Delay(500);
            Assert.True(check.ExitCode == 0, $"{check.Output}\nsilo exited: {process.HasExited}");
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        Assert.NotEqual(0, HealthCheck(port).ExitCode);
        Assert.Contains($"http {port}", await output + await errors);
        Directory.Delete(artifacts, true);
    }
}
