using FineXtract.Extraction.Pipeline;

namespace FineXtract.Tests.Extraction;

public class FineTunedInputTests
{
    [Theory]
    [InlineData("")]                                        // diffusers pipeline folder
    [InlineData("unet")]                                    // just a unet/ folder
    [InlineData("unet/ldm_unet.safetensors")]               // single LDM file
    [InlineData("unet/diffusion_pytorch_model.safetensors")] // a diffusers weights file
    public void FullFineTuneLoadsFromEveryLayout(string path)
    {
        using var models = ExtractionModels.Load(new ModelSources(Fixtures.Parity, Fixtures.Path_(path), null));
        Assert.Equal("sd1", models.BaseFamily);
        Assert.NotSame(models.PretrainedUnet, models.FineTunedUnet);
        Assert.Equal(path == "", models.FineTunedTextEncoderDiffers); // only the pipeline folder brings a text encoder
    }

    [Fact]
    public void FineTuneOfAnotherBaseIsRejected()
    {
        var dir = Directory.CreateTempSubdirectory("fx-other-base-").FullName;
        try
        {
            var cfg = File.ReadAllText(Fixtures.Path_("unet", "config.json")).Replace("\"cross_attention_dim\": 32", "\"cross_attention_dim\": 64");
            File.WriteAllText(Path.Combine(dir, "config.json"), cfg);
            File.Copy(Fixtures.Path_("unet", "diffusion_pytorch_model.safetensors"), Path.Combine(dir, "diffusion_pytorch_model.safetensors"));
            var e = Assert.ThrowsAny<FineXtractException>(() => ExtractionModels.Load(new ModelSources(Fixtures.Parity, dir, null)));
            Assert.Contains("different base", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
}
