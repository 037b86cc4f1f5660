using System.CommandLine;
using System.Text.Json;
using System.Text.RegularExpressions;
using FineXtract.Cli.Commands;

namespace FineXtract.Deploy.Tests;

/// <summary>Rendered Kubernetes objects: lookups, and container arguments checked against the real CLI parser.</summary>
public static partial class Containers
{
    public static JsonElement Single(this List<JsonElement> objects, string kind, string name) =>
        objects.Single(o => o.GetProperty("kind").GetString() == kind && o.GetProperty("metadata").GetProperty("name").GetString() == name);

    public static IEnumerable<JsonElement> OfKind(this List<JsonElement> objects, string kind) =>
        objects.Where(o => o.GetProperty("kind").GetString() == kind);

    public static JsonElement PodSpec(this JsonElement workload) =>
        workload.GetProperty("kind").GetString() == "Job" || workload.GetProperty("kind").GetString() is "Deployment" or "StatefulSet"
            ? workload.GetProperty("spec").GetProperty("template").GetProperty("spec")
            : throw new ArgumentException("not a workload");

    public static JsonElement Container(this JsonElement workload, string name) =>
        workload.PodSpec().GetProperty("containers").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    public static string[] Args(this JsonElement container) => [.. container.GetProperty("args").EnumerateArray().Select(a => a.GetString()!)];

    public static string? Option(this string[] args, string option) => Array.IndexOf(args, option) is int i and >= 0 ? args[i + 1] : null;

    public static JsonElement Env(this JsonElement container, string name) =>
        container.GetProperty("env").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);

    [GeneratedRegex(@"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")]
    private static partial Regex VariableReference();

    /// <summary>
    /// Checks a container's arguments the way Kubernetes and the image run them: every $(VAR) names an env var of the
    /// container (Kubernetes leaves unknown references verbatim), and after expansion the arguments parse with the
    /// CLI's own command tree (the image's ENTRYPOINT is `dotnet finextract.dll`).
    /// </summary>
    public static void AssertArgumentsParse(JsonElement container)
    {
        var env = container.TryGetProperty("env", out var e) ? e.EnumerateArray().Select(v => v.GetProperty("name").GetString()!).ToHashSet() : [];
        var args = container.Args();
        var expanded = args.Select(a => VariableReference().Replace(a, m =>
        {
            Assert.True(env.Contains(m.Groups[1].Value), $"$({m.Groups[1].Value}) in '{a}' is not an env var of the container");
            return m.Groups[1].Value switch
            {
                "POD_IP" => "10.1.2.3",
                "POD_NAME" => "finextract-control-abc12",
                _ => "redis.example:6379",
            };
        })).ToArray();
        var root = new RootCommand("finextract");
        foreach (var command in CommandCatalog.All()) root.Subcommands.Add(command);
        var parse = root.Parse(expanded);
        Assert.True(parse.Errors.Count == 0, $"finextract {string.Join(' ', expanded)}: {string.Join("; ", parse.Errors.Select(x => x.Message))}");
    }
}
