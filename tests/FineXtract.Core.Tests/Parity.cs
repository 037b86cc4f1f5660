using TorchSharp;
using Xunit.Abstractions;

namespace FineXtract.Tests;

/// <summary>Compares our outputs with the upstream reference: max |Δ| relative to max |reference|.</summary>
public static class Parity
{
    public static double RelativeError(torch.Tensor actual, torch.Tensor expected)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var a = actual.to_type(torch.ScalarType.Float64);
        using var e = expected.to_type(torch.ScalarType.Float64);
        double diff = (a - e).abs().max().item<double>();
        double scale = Math.Max(e.abs().max().item<double>(), 1e-12);
        return diff / scale;
    }

    public static void AssertClose(torch.Tensor actual, torch.Tensor expected, double tolerance, string what, ITestOutputHelper? log = null)
    {
        double rel = RelativeError(actual, expected);
        log?.WriteLine($"{what}: max |Δ| / max |ref| = {rel:E2}");
        Assert.True(rel <= tolerance, $"{what}: relative error {rel:E3} exceeds {tolerance:E1}");
    }
}

/// <summary>Exact tensor comparisons.</summary>
public static class Exact
{
    /// <summary>Same shape and bit-for-bit equal values.</summary>
    public static bool Same(TorchSharp.torch.Tensor a, TorchSharp.torch.Tensor b)
    {
        if (!a.shape.SequenceEqual(b.shape)) return false;
        using var eq = a.eq(b);
        using var all = eq.all();
        return all.item<bool>();
    }
}
