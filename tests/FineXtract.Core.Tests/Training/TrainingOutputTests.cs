using System.Text.Json;
using FineXtract.Checkpoints;
using FineXtract.Checkpoints.Lora;
using FineXtract.Diffusion.Models;
using FineXtract.Extraction.Pipeline;
using FineXtract.Extraction.Sampling;
using FineXtract.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FineXtract.Tests.Training;

public class TrainingOutputTests(TinyWorld world) : IClassFixture<TinyWorld>
{
    private static Tensor Run(UNet2DConditionModel unet)
    {
        using var _ = inference_mode();
        using var g = new Generator(3, CPU);
        using var x = randn([2, 4, 8, 8], generator: g);
        using var ctx = randn([2, 77, 32], generator: g);
        using var t = tensor(new long[] { 5, 500 });
        return unet.forward(x, t, ctx);
    }

    [Fact]
    public void BaseIsADiffusersPipelineThatSamples()
    {
        foreach (var part in new[] { "model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vae/config.json",
                     "text_encoder/config.json", "text_encoder/model.safetensors", "tokenizer/vocab.json", "tokenizer/merges.txt",
                     "scheduler/scheduler_config.json", "finextract_training.json" })
            Assert.True(File.Exists(Path.Combine(world.BaseDir, part)), part);
        using var vaeConfig = JsonDocument.Parse(File.ReadAllText(Path.Combine(world.BaseDir, "vae", "config.json")));
        double scaling = vaeConfig.RootElement.GetProperty("scaling_factor").GetDouble();
        Assert.True(scaling > 0 && scaling != 1.0, $"scaling factor {scaling} should be measured");

        string db = world.NewDir("db-for-sampling");
        using (var data = world.InstanceData())
            DreamBoothTrainer.Run(new FineTuneJob(world.BaseDir, data, 1, world.Options(1, 1, Path.Combine(db, "checkpoints"))), db,
                FineTuneFormat.Diffusers, null, null, default);

        using var models = ExtractionModels.Load(new ModelSources(world.BaseDir, db, null));
        Assert.Equal(scaling, models.Vae.Config.ScalingFactor, 5);
        Assert.Equal("PNDMScheduler", models.Scheduler.ClassName);
        var settings = new SamplingSettings(TinyWorld.Prompt, GuidanceSettings.FineXtractFullFineTune, SamplerMode.Faithful, 3, Seed: 1,
            LatentSize: TinyWorld.Family.LatentSize);
        using var sampler = new SeedBatchSampler(models, settings);
        using var batch = sampler.Generate([0, 1]);
        Assert.Equal(new long[] { 2, 3, 16, 16 }, batch.Images.shape);
        Assert.True(batch.Images.isfinite().all().item<bool>());
    }

    [Fact]
    public void DreamBoothLoadsInBothFormatsWithTheSameWeights()
    {
        string diffusers = world.NewDir("db-diffusers"), single = world.NewDir("db-single");
        foreach (var (dir, format) in new[] { (diffusers, FineTuneFormat.Diffusers), (single, FineTuneFormat.SingleFile) })
        {
            using var data = world.InstanceData(padding: 2);
            var result = DreamBoothTrainer.Run(new FineTuneJob(world.BaseDir, data, 2, world.Options(1, 1, Path.Combine(dir, "checkpoints"))),
                dir, format, null, null, default);
            Assert.Equal(6, result.Step); // 3 images × 2 steps
        }
        string file = Path.Combine(single, "dreambooth.safetensors");
        using (var f = SafeTensorsFile.Open(file))
        {
            Assert.Contains(f.Tensors.Keys, k => k.StartsWith("model.diffusion_model."));
            Assert.Contains(f.Tensors.Keys, k => k.StartsWith("first_stage_model."));
            Assert.Contains(f.Tensors.Keys, k => k.StartsWith("cond_stage_model.transformer.text_model."));
        }
        using var fromFolder = ModelLoader.LoadUnet(diffusers);
        using var fromFile = ModelLoader.LoadUnet(file); // config inferred from shapes, as for civitai files
        using var baseUnet = ModelLoader.LoadUnet(world.BaseDir);
        using var a = Run(fromFolder);
        using var b = Run(fromFile);
        using var c = Run(baseUnet);
        Assert.True(a.allclose(b, rtol: 0, atol: 0), "both formats hold the same fine-tuned weights");
        Assert.False(a.allclose(c, rtol: 0, atol: 1e-7), "the fine-tune changed the UNet");
        using var vae = ModelLoader.LoadVae(file, Path.Combine(world.BaseDir, "vae", "config.json"));
        using var text = ModelLoader.LoadTextEncoder(file, Path.Combine(world.BaseDir, "text_encoder", "config.json"));
        using var models = ExtractionModels.Load(new ModelSources(world.BaseDir, file, null));
        Assert.True(models.FineTunedTextEncoderDiffers);
    }

    [Fact]
    public void LoraIsAKohyaFileThatMergesCompletely()
    {
        string output = Path.Combine(world.NewDir("lora"), "subject.safetensors");
        using (var data = world.InstanceData())
            LoraTrainer.Run(new FineTuneJob(world.BaseDir, data, 2, world.Options(1, 1, LoraTrainer.CheckpointDirFor(output), lr: 1e-2), Fp16: true),
                new LoraSettings(Rank: 4, Alpha: 2, OutputName: "subject", Comment: "unit test"), output, null, null, default);

        using var lora = LoraAdapter.Open(output);
        Assert.Equal("kohya", lora.Format);
        using var unet = ModelLoader.LoadUnet(world.BaseDir);
        int attentions = unet.named_modules().Count(m => m.module is Attention);
        Assert.Equal(4 * attentions, lora.Modules.Count);
        Assert.All(lora.Modules, m => Assert.StartsWith("lora_unet_", m.Name));
        Assert.Equal(lora.Modules.Count, lora.MergeInto(unet, LoraTarget.Unet, 1.0));

        var meta = lora.Metadata;
        Assert.Equal("networks.lora", meta["ss_network_module"]);
        Assert.Equal("4", meta["ss_network_dim"]);
        Assert.Equal("2.0", meta["ss_network_alpha"]);
        Assert.Equal("sd_v1", meta["ss_base_model_version"]);
        Assert.Equal("6", meta["ss_steps"]);
        Assert.Equal("(16, 16)", meta["ss_resolution"]);
        Assert.Equal("unit test", meta["ss_training_comment"]);
        using var tags = JsonDocument.Parse(meta["ss_tag_frequency"]);
        var folder = tags.RootElement.GetProperty($"2_{TinyWorld.Prompt}");
        Assert.Equal(3, folder.GetProperty(TinyWorld.Prompt).GetInt32());
        using var dirs = JsonDocument.Parse(meta["ss_dataset_dirs"]);
        Assert.Equal(3, dirs.RootElement.GetProperty($"2_{TinyWorld.Prompt}").GetProperty("img_count").GetInt32());
        Assert.Equal(TinyWorld.Prompt, FineXtract.Extraction.Prompts.PromptRecovery.FromMetadata(meta)[0].Prompt);

        using var file = SafeTensorsFile.Open(output);
        var hashes = CheckpointHashes.Compute(output, 8 + file.HeaderLength, meta["sshs_model_hash"]);
        Assert.True(hashes.SshsModelHashMatches == true, "sshs_model_hash is the SHA-256 of the data section");
        Assert.Equal("F16", file.Tensors.First(kv => kv.Key.EndsWith("lora_up.weight")).Value.DType);

        using var models = ExtractionModels.Load(new ModelSources(world.BaseDir, null, output));
        Assert.Equal(lora.Modules.Count, models.LoraModulesMerged);
    }

    [Theory]
    [InlineData("attention")]
    [InlineData("transformer")]
    [InlineData("locon")]
    public void MergedLoraEqualsTheHookedAdapter(string targets)
    {
        using var unet = ModelLoader.LoadUnet(world.BaseDir);
        using var network = new LoraNetwork(unet, rank: 3, alpha: 6, seed: 5, LoraNetwork.TargetSet(targets));
        if (targets == "locon") Assert.Contains(network.TargetNames, n => n.EndsWith(".conv1", StringComparison.Ordinal));
        if (targets == "transformer") Assert.Contains(network.TargetNames, n => n.EndsWith(".ff.net.2", StringComparison.Ordinal));
        using (no_grad())
            foreach (var p in network.parameters()) p.normal_(0, 0.05);
        network.Attach();
        using var hooked = Run(unet);
        network.Detach();
        using var plain = Run(unet);
        Assert.False(hooked.allclose(plain, rtol: 0, atol: 1e-6), "the hooks change the output");

        string path = Path.Combine(world.NewDir("merge"), "m.safetensors");
        network.WriteKohya(path, new Dictionary<string, string> { ["ss_network_module"] = "networks.lora" }, fp16: false);
        using var lora = LoraAdapter.Open(path);
        using var merged = ModelLoader.LoadUnet(world.BaseDir);
        Assert.Equal(network.TargetNames.Count, lora.MergeInto(merged, LoraTarget.Unet, 1.0));
        using var viaMerge = Run(merged);
        Assert.True(viaMerge.allclose(hooked, rtol: 1e-4, atol: 1e-5), $"max diff {(viaMerge - hooked).abs().max().item<float>()}");
    }
}
