using System.Text.Json;

namespace FineXtract.Deploy.Tests;

/// <summary>
/// helm, kubectl and the node checks, installed once per test run by deploy/tools/install.sh (idempotent, cached under
/// deploy/tools). A missing tool fails the tests; it never skips them.
/// </summary>
public static class DeployTools
{
    private static readonly Lazy<string> Bin = new(Install);

    public static string Helm => Path.Combine(Bin.Value, "helm");
    public static string Kubectl => Path.Combine(Bin.Value, "kubectl");
    public static string Tools => Repo.Path_("deploy", "tools");
    public static string Chart => Repo.Path_("helm", "finextract");

    /// <summary>API versions of the CRDs the chart guards with .Capabilities (KEDA, prometheus-operator).</summary>
    public static readonly string[] CrdApiVersions = ["--api-versions", "keda.sh/v1alpha1/ScaledObject", "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor"];

    private static string Install()
    {
        var result = Repo.Run("bash", [Path.Combine(Tools, "install.sh")], timeout: TimeSpan.FromMinutes(10));
        if (result.ExitCode != 0) throw new InvalidOperationException($"deploy/tools/install.sh failed ({result.ExitCode}):\n{result.Output}");
        return result.Stdout.Trim().Split('\n')[^1];
    }

    public static Repo.Result HelmRun(params string[] args) => Repo.Run(Helm, args);

    /// <summary>`helm template` with the CRDs present; throws with helm's output when rendering fails.</summary>
    public static string Template(params string[] valuesFiles)
    {
        var args = new List<string> { "template", "fx", Chart, "--namespace", "scans", "--kube-version", "1.33.0" };
        args.AddRange(CrdApiVersions);
        foreach (var f in valuesFiles) args.AddRange(["-f", f]);
        var result = HelmRun([.. args]);
        Assert.True(result.ExitCode == 0, result.Output);
        return result.Stdout;
    }

    /// <summary>deploy/tools/validate.mjs over multi-document YAML: kubernetes-models (and KEDA / prometheus-operator) schemas.</summary>
    public static Repo.Result Validate(string yaml)
    {
        _ = Bin.Value;
        return Repo.Run("node", [Path.Combine(Tools, "validate.mjs")], stdin: yaml);
    }

    /// <summary>Multi-document YAML as JSON objects (deploy/tools/to-json.mjs), for structural assertions.</summary>
    public static List<JsonElement> Objects(string yaml)
    {
        _ = Bin.Value;
        var result = Repo.Run("node", [Path.Combine(Tools, "to-json.mjs")], stdin: yaml);
        Assert.True(result.ExitCode == 0, result.Output);
        return JsonSerializer.Deserialize<List<JsonElement>>(result.Stdout)!;
    }
}
