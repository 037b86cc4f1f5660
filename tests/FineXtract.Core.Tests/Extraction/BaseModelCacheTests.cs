using FineXtract.Extraction.Pipeline;

namespace FineXtract.Tests.Extraction;

public class BaseModelCacheTests
{
    [Fact]
    public void ABaseIsLoadedOnceAndSharedAcrossFineTunes()
    {
        using var cache = new BaseModelCache(capacity: 1);
        var lora = new ModelSources(Fixtures.Parity, null, Fixtures.Path_("lora", "kohya_lora.safetensors"));
        var full = new ModelSources(Fixtures.Parity, Fixtures.Parity, null);
        using (var a = ExtractionModels.Load(lora, cache))
        using (var b = ExtractionModels.Load(full, cache))
        {
            Assert.Same(a.PretrainedUnet, b.PretrainedUnet);
            Assert.Same(a.Vae, b.Vae);
            Assert.NotSame(a.FineTunedUnet, a.PretrainedUnet);
            Assert.True(a.LoraModulesMerged > 0);
        }
        // Still cached after both sessions closed; usable again without a reload.
        using (var c = ExtractionModels.Load(lora, cache))
            Assert.Equal("sd1", c.BaseFamily);
        Assert.Equal(1, cache.Loads);
        Assert.Equal(1, cache.Count);
    }
}
