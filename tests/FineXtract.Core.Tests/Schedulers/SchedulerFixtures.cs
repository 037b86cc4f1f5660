using System.Text.Json;
using FineXtract.Checkpoints;
using FineXtract.Diffusion.Schedulers;
using static TorchSharp.torch;

namespace FineXtract.Tests.Schedulers;

/// <summary>Shared access to the scheduler/ and finextract/ parity fixtures and an error report helper.</summary>
internal static class SchedulerFixtures
{
    public static string ConfigPath => Fixtures.Path_("scheduler", "scheduler_config.json");
    public static string ReferencePath => Fixtures.Path_("scheduler", "reference.safetensors");
    public static string FineXtractIoPath => Fixtures.Path_("finextract", "io.safetensors");

    /// <summary>The SD1 DDIM config of the fixture pipeline.</summary>
    public static SchedulerConfig Ddim() => SchedulerConfig.Load(ConfigPath);

    /// <summary>The PNDMScheduler config diffusers used for the PNDM references (reference.json's pndm_config).</summary>
    public static SchedulerConfig Pndm()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("scheduler", "reference.json")));
        return SchedulerConfig.Parse(doc.RootElement.GetProperty("pndm_config").GetRawText(), "reference.json pndm_config");
    }

    public static long[] Longs(SafeTensorsFile f, string name)
    {
        using var t = f.Load(name);
        return t.data<long>().ToArray();
    }

    /// <summary>Max |actual − expected| and max |expected|.</summary>
    public static (double MaxAbs, double Scale) Error(Tensor actual, Tensor expected)
    {
        Assert.Equal(expected.shape, actual.shape);
        using var diff = (actual.to(ScalarType.Float64) - expected.to(ScalarType.Float64)).abs();
        using var mx = diff.max();
        using var sc = expected.abs().max();
        return (mx.item<double>(), sc.to(ScalarType.Float64).item<double>());
    }
}
