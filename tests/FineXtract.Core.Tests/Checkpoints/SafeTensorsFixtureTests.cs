using FineXtract.Checkpoints;
using TorchSharp;

namespace FineXtract.Tests.Checkpoints;

public class SafeTensorsFixtureTests
{
    [Fact]
    public void ReadsFixtureTensorsAndMetadata()
    {
        using var f = SafeTensorsFile.Open(Fixtures.Path_("unet", "io.safetensors"));
        using var t = f.Load("timestep");
        Assert.Equal(torch.ScalarType.Int64, t.dtype);
        Assert.Equal(new long[] { 999, 10 }, t.data<long>().ToArray());
        using var s = f.Load("sample");
        Assert.Equal(new long[] { 2, 4, 8, 8 }, s.shape);

        using var lora = SafeTensorsFile.Open(Fixtures.Path_("lora", "kohya_lora.safetensors"));
        Assert.Equal("4", lora.Metadata["ss_network_dim"]);
        using var alpha = lora.Load(lora.Tensors.Keys.First(k => k.EndsWith(".alpha")));
        Assert.Equal(0, alpha.dim());
        Assert.Equal(2.0f, alpha.item<float>());
    }

    [Fact]
    public void WriterRoundTripsDtypesAndMetadata()
    {
        var path = Path.GetTempFileName();
        try
        {
            using var a = torch.randn(3, 5);
            using var h = a.to_type(torch.ScalarType.Float16);
            using var i = torch.arange(7, dtype: torch.ScalarType.Int64);
            SafeTensorsWriter.Write(path, new Dictionary<string, torch.Tensor> { ["a"] = a, ["h"] = h, ["i"] = i },
                new Dictionary<string, string> { ["k"] = "v" });
            using var f = SafeTensorsFile.Open(path);
            Assert.Equal("v", f.Metadata["k"]);
            Assert.Equal("F16", f.Tensors["h"].DType);
            using var a2 = f.Load("a");
            Assert.True(a.allclose(a2, rtol: 0, atol: 0));
            using var h2 = f.Load("h", torch.ScalarType.Float32);
            Assert.Equal(torch.ScalarType.Float32, h2.dtype);
            Assert.True((h2 - a).abs().max().item<float>() < 1e-2);
            using var i2 = f.Load("i", torch.ScalarType.Float32);
            Assert.Equal(torch.ScalarType.Int64, i2.dtype);
        }
        finally { File.Delete(path); }
    }
}
