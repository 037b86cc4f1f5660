namespace FineXtract.Deploy.Tests;

/// <summary>deploy/tools/validate.mjs rejects what Kubernetes would: the checks above can fail.</summary>
public sealed class ValidatorTests
{
    [Fact]
    public void RejectsADeploymentWithoutSelectorAndWithStringReplicas()
    {
        var result = DeployTools.Validate("""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: broken}
            spec:
              replicas: "2"
              template: {spec: {containers: [{name: c, image: x}]}}
            """);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("must have required property selector", result.Stdout);
        Assert.Contains("replicas must be integer", result.Stdout);
    }

    [Fact]
    public void RejectsAScaledObjectWithoutTarget()
    {
        var result = DeployTools.Validate("""
            apiVersion: keda.sh/v1alpha1
            kind: ScaledObject
            metadata: {name: broken}
            spec:
              triggers: [{type: prometheus, metadata: {query: up}}]
            """);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("scaleTargetRef", result.Stdout);
    }

    [Fact]
    public void RejectsKindsItHasNoSchemaFor()
    {
        var result = DeployTools.Validate("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no schema for example.com/v1 Widget", result.Stdout);
    }

    [Fact]
    public void AcceptsAValidService()
    {
        var result = DeployTools.Validate("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 80}]\n");
        Assert.True(result.ExitCode == 0, result.Output);
    }
}
