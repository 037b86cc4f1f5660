using System.Text.Json;

namespace FineXtract.Deploy.Tests;

/// <summary>helm/finextract: lint, render and schema-validate every values set; the rendered silos form one cluster.</summary>
public sealed class HelmChartTests
{
    public static TheoryData<string> ValuesSets => ["", "ci/gpu-values.yaml", "ci/external-redis-values.yaml"];

    private static string[] ValuesFiles(string set) => set == "" ? [] : [Path.Combine(DeployTools.Chart, set)];

    [Theory]
    [MemberData(nameof(ValuesSets))]
    public void LintsStrictly(string set)
    {
        var args = new List<string> { "lint", "--strict", DeployTools.Chart, "--kube-version", "1.33.0" };
        foreach (var f in ValuesFiles(set)) args.AddRange(["-f", f]);
        var result = DeployTools.HelmRun([.. args]);
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("0 chart(s) failed", result.Output);
    }

    [Theory]
    [MemberData(nameof(ValuesSets))]
    public void EveryRenderedObjectMatchesItsKubernetesSchema(string set)
    {
        var validation = DeployTools.Validate(DeployTools.Template(ValuesFiles(set)));
        Assert.True(validation.ExitCode == 0, validation.Output);
        Assert.Contains(" 0 invalid", validation.Stdout);
    }

    public static TheoryData<string, string> InvalidValues => new()
    {
        { "string-replicas.yaml", "/control/replicas" },
        { "negative-gpus.yaml", "/sampler/gpu/count" },
        { "misspelled-key.yaml", "gpus" },
        { "external-redis-without-connection.yaml", "/externalRedis" },
        { "job-without-manifest.yaml", "/campaignJob/manifest" },
        { "zero-sampler-slots.yaml", "/sampler/slots" },
    };

    [Theory]
    [MemberData(nameof(InvalidValues))]
    public void TheSchemaRejectsBrokenValues(string file, string complaint)
    {
        string values = Repo.Path_("tests", "FineXtract.Deploy.Tests", "invalid-values", file);
        var template = DeployTools.HelmRun("template", "fx", DeployTools.Chart, "-f", values);
        Assert.NotEqual(0, template.ExitCode);
        Assert.Contains(complaint, template.Output);
        Assert.NotEqual(0, DeployTools.HelmRun("lint", "--strict", DeployTools.Chart, "-f", values).ExitCode);
    }

    [Fact]
    public void ControlAndSamplerSilosJoinOneClusterWithPodIdentity()
    {
        var objects = DeployTools.Objects(DeployTools.Template());
        var control = objects.Single("Deployment", "fx-finextract-control").Container("silo");
        var sampler = objects.Single("Deployment", "fx-finextract-sampler").Container("silo");
        foreach (var (silo, role) in new[] { (control, "control"), (sampler, "sampler") })
        {
            Containers.AssertArgumentsParse(silo);
            var args = silo.Args();
            Assert.Equal("silo", args[0]);
            Assert.Equal(role, args.Option("--role"));
            Assert.Equal("fx-finextract", args.Option("--cluster-id"));
            Assert.Equal("finextract", args.Option("--service-id"));
            // Orleans on Kubernetes: explicit silo name and advertised pod IP from the downward API.
            Assert.Equal("$(POD_NAME)", args.Option("--name"));
            Assert.Equal("$(POD_IP)", args.Option("--advertise"));
            Assert.Equal("status.podIP", silo.Env("POD_IP").GetProperty("valueFrom").GetProperty("fieldRef").GetProperty("fieldPath").GetString());
            Assert.Equal("metadata.name", silo.Env("POD_NAME").GetProperty("valueFrom").GetProperty("fieldRef").GetProperty("fieldPath").GetString());
            Assert.Equal("fx-finextract-redis:6379", silo.Env("FINEXTRACT_REDIS").GetProperty("value").GetString());
            Assert.Equal("/data/artifacts", args.Option("--artifacts"));
            Assert.Equal("/healthz/ready", silo.GetProperty("readinessProbe").GetProperty("httpGet").GetProperty("path").GetString());
            Assert.Equal("/healthz", silo.GetProperty("livenessProbe").GetProperty("httpGet").GetProperty("path").GetString());
            // A CPU request but no CPU limit: throttling breaks Orleans' membership probes.
            Assert.False(silo.GetProperty("resources").GetProperty("limits").TryGetProperty("cpu", out _));
            Assert.True(silo.GetProperty("resources").GetProperty("requests").TryGetProperty("cpu", out _));
        }
        // No API key configured: the silos get none (the API refuses every call) rather than an empty one.
        Assert.DoesNotContain(control.GetProperty("env").EnumerateArray(), e => e.GetProperty("name").GetString() == "FINEXTRACT_API_KEY");
        Assert.False(sampler.GetProperty("resources").GetProperty("limits").TryGetProperty("nvidia.com/gpu", out _));

        var redis = objects.Single("StatefulSet", "fx-finextract-redis");
        Assert.Equal("redis-data", redis.GetProperty("spec").GetProperty("volumeClaimTemplates")[0].GetProperty("metadata").GetProperty("name").GetString());
        Assert.Equal(JsonValueKind.Object, objects.Single("PersistentVolumeClaim", "fx-finextract-artifacts").ValueKind);
        foreach (var component in new[] { "control", "sampler" })
        {
            var pdb = objects.Single("PodDisruptionBudget", $"fx-finextract-{component}");
            var podLabels = objects.Single("Deployment", $"fx-finextract-{component}").GetProperty("spec").GetProperty("template").GetProperty("metadata").GetProperty("labels");
            foreach (var label in pdb.GetProperty("spec").GetProperty("selector").GetProperty("matchLabels").EnumerateObject())
                Assert.Equal(label.Value.GetString(), podLabels.GetProperty(label.Name).GetString());
        }
        // The CRD-backed objects are off by default, and guarded by the CRDs' presence when on.
        Assert.Empty(objects.OfKind("ScaledObject"));
        Assert.Empty(objects.OfKind("ServiceMonitor"));
        Assert.Empty(objects.OfKind("Job"));
    }

    [Fact]
    public void GpuValuesPutSamplersOnTheGpuPoolAndSubmitTheCampaignWithTheRealCli()
    {
        var objects = DeployTools.Objects(DeployTools.Template(Path.Combine(DeployTools.Chart, "ci", "gpu-values.yaml")));
        var deployment = objects.Single("Deployment", "fx-finextract-sampler");
        var pod = deployment.PodSpec();
        var sampler = deployment.Container("silo");
        Assert.Equal(1, sampler.GetProperty("resources").GetProperty("limits").GetProperty("nvidia.com/gpu").GetInt32());
        // The CUDA image for the samplers only.
        Assert.Equal("registry.example.com/finextract:0.1.0-cuda", sampler.GetProperty("image").GetString());
        Assert.Equal("registry.example.com/finextract:0.1.0", objects.Single("Deployment", "fx-finextract-control").Container("silo").GetProperty("image").GetString());
        Assert.Equal("32Gi", sampler.GetProperty("resources").GetProperty("limits").GetProperty("memory").GetString());
        Assert.Equal("true", pod.GetProperty("nodeSelector").GetProperty("nvidia.com/gpu.present").GetString());
        Assert.Equal("nvidia.com/gpu", pod.GetProperty("tolerations")[0].GetProperty("key").GetString());
        Assert.Equal("nvidia", pod.GetProperty("runtimeClassName").GetString());
        Assert.Equal("finextract-api-key", sampler.Env("FINEXTRACT_API_KEY").GetProperty("valueFrom").GetProperty("secretKeyRef").GetProperty("name").GetString());
        // KEDA owns the replica count.
        Assert.False(deployment.GetProperty("spec").TryGetProperty("replicas", out _));
        var scaled = objects.Single("ScaledObject", "fx-finextract-sampler");
        Assert.Equal("fx-finextract-sampler", scaled.GetProperty("spec").GetProperty("scaleTargetRef").GetProperty("name").GetString());

        // The ServiceMonitor selects the Service over every silo, which selects both Deployments' pods.
        var monitor = objects.Single("ServiceMonitor", "fx-finextract");
        var silos = objects.Single("Service", "fx-finextract-silos");
        foreach (var label in monitor.GetProperty("spec").GetProperty("selector").GetProperty("matchLabels").EnumerateObject())
            Assert.Equal(label.Value.GetString(), silos.GetProperty("metadata").GetProperty("labels").GetProperty(label.Name).GetString());
        foreach (var name in new[] { "fx-finextract-control", "fx-finextract-sampler" })
        {
            var podLabels = objects.Single("Deployment", name).GetProperty("spec").GetProperty("template").GetProperty("metadata").GetProperty("labels");
            foreach (var label in silos.GetProperty("spec").GetProperty("selector").EnumerateObject())
                Assert.Equal(label.Value.GetString(), podLabels.GetProperty(label.Name).GetString());
        }

        var job = objects.OfKind("Job").Single();
        var submit = job.Container("submit");
        Containers.AssertArgumentsParse(submit);
        var args = submit.Args();
        Assert.Equal(["campaign", "submit"], args[..2]);
        Assert.Equal("fx-finextract", args.Option("--cluster-id"));
        string configMap = job.PodSpec().GetProperty("volumes").EnumerateArray().Single(v => v.GetProperty("name").GetString() == "manifest")
            .GetProperty("configMap").GetProperty("name").GetString()!;
        string manifest = objects.Single("ConfigMap", configMap).GetProperty("data").GetProperty("manifest.jsonl").GetString()!;
        Assert.Equal("/manifest/manifest.jsonl", args.Option("--manifest"));
        Assert.Equal(2, manifest.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        foreach (var line in manifest.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            Assert.StartsWith("/data/", JsonDocument.Parse(line).RootElement.GetProperty("base").GetString());
    }

    [Fact]
    public void ExternalRedisComesFromASecretAndNoRedisIsDeployed()
    {
        var objects = DeployTools.Objects(DeployTools.Template(Path.Combine(DeployTools.Chart, "ci", "external-redis-values.yaml")));
        Assert.Empty(objects.OfKind("StatefulSet"));
        Assert.DoesNotContain(objects, o => o.GetProperty("metadata").GetProperty("name").GetString() == "fx-finextract-redis");
        Assert.DoesNotContain(objects, o => o.GetProperty("kind").GetString() == "PersistentVolumeClaim");
        foreach (var name in new[] { "fx-finextract-control", "fx-finextract-sampler" })
        {
            var silo = objects.Single("Deployment", name).Container("silo");
            var secret = silo.Env("FINEXTRACT_REDIS").GetProperty("valueFrom").GetProperty("secretKeyRef");
            Assert.Equal("finextract-redis", secret.GetProperty("name").GetString());
            Assert.Equal("connection", secret.GetProperty("key").GetString());
            Assert.Equal("finextract-artifacts", objects.Single("Deployment", name).PodSpec().GetProperty("volumes")[0]
                .GetProperty("persistentVolumeClaim").GetProperty("claimName").GetString());
        }
        // apiKey.value: the chart makes the Secret the silos read.
        var apiKey = objects.Single("Secret", "fx-finextract-api-key");
        Assert.Equal("change-me", apiKey.GetProperty("stringData").GetProperty("api-key").GetString());
    }

    [Fact]
    public void WithoutTheCrdsTheGuardedObjectsAreLeftOut()
    {
        var result = DeployTools.HelmRun("template", "fx", DeployTools.Chart, "-f", Path.Combine(DeployTools.Chart, "ci", "gpu-values.yaml"));
        Assert.True(result.ExitCode == 0, result.Output);
        var objects = DeployTools.Objects(result.Stdout);
        Assert.Empty(objects.OfKind("ScaledObject"));
        Assert.Empty(objects.OfKind("ServiceMonitor"));
        Assert.NotEmpty(objects.OfKind("Job"));
    }
}
