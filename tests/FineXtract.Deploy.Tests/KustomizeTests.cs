namespace FineXtract.Deploy.Tests;

/// <summary>k8s/: the kustomize base and the gpu overlay build, validate, and run real CLI arguments.</summary>
public sealed class KustomizeTests
{
    private static string Build(string folder)
    {
        var result = Repo.Run(DeployTools.Kubectl, ["kustomize", Repo.Path_("k8s", folder)]);
        Assert.True(result.ExitCode == 0, result.Output);
        return result.Stdout;
    }

    [Theory]
    [InlineData("base")]
    [InlineData("overlays/gpu")]
    public void BuildsAndEveryObjectMatchesItsKubernetesSchema(string folder)
    {
        string yaml = Build(folder);
        var validation = DeployTools.Validate(yaml);
        Assert.True(validation.ExitCode == 0, validation.Output);
        var objects = DeployTools.Objects(yaml);
        foreach (var (name, role) in new[] { ("finextract-control", "control"), ("finextract-sampler", "sampler") })
        {
            var silo = objects.Single("Deployment", name).Container("silo");
            Containers.AssertArgumentsParse(silo);
            Assert.Equal(role, silo.Args().Option("--role"));
            Assert.Equal("finextract", silo.Args().Option("--cluster-id"));
            Assert.Equal("$(POD_IP)", silo.Args().Option("--advertise"));
            Assert.True(silo.Env("FINEXTRACT_API_KEY").GetProperty("valueFrom").GetProperty("secretKeyRef").GetProperty("optional").GetBoolean());
        }
        Assert.Single(objects.OfKind("StatefulSet"));
    }

    [Fact]
    public void TheGpuOverlayPutsSamplersOnGpus()
    {
        var objects = DeployTools.Objects(Build("overlays/gpu"));
        var sampler = objects.Single("Deployment", "finextract-sampler");
        var container = sampler.Container("silo");
        Assert.Equal(1, container.GetProperty("resources").GetProperty("limits").GetProperty("nvidia.com/gpu").GetInt32());
        Assert.EndsWith("-cuda", container.GetProperty("image").GetString());
        Assert.Equal("nvidia.com/gpu", sampler.PodSpec().GetProperty("tolerations")[0].GetProperty("key").GetString());
        // The control plane stays on CPU, on the CPU image.
        var control = objects.Single("Deployment", "finextract-control").Container("silo");
        Assert.False(control.GetProperty("resources").GetProperty("limits").TryGetProperty("nvidia.com/gpu", out _));
        Assert.DoesNotContain("cuda", control.GetProperty("image").GetString());
    }
}
