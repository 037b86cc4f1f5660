using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineXtract.Checkpoints;
using TorchSharp;

namespace FineXtract.Tests.Checkpoints;

public sealed class CheckpointInspectorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fx-inspect-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static string Sha256Of(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));

    /// <summary>The report as a JSON tree, i.e. what `finextract inspect` prints.</summary>
    private static JsonNode Json(CheckpointReport report) => JsonNode.Parse(report.ToJson())!;

    /// <summary>Writes zero-filled float32 tensors with the given shapes (plus optional metadata).</summary>
    private string Write(string name, IEnumerable<(string Key, long[] Shape)> entries, Dictionary<string, string>? metadata = null,
        Dictionary<string, float>? scalars = null)
    {
        var path = Path.Combine(_dir, name);
        var tensors = new Dictionary<string, torch.Tensor>();
        try
        {
            foreach (var (key, shape) in entries) tensors[key] = torch.zeros(shape);
            foreach (var (key, value) in scalars ?? []) tensors[key] = torch.tensor(value);
            SafeTensorsWriter.Write(path, tensors, metadata);
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
        return path;
    }

    // ---------------------------------------------------------------- fixtures

    [Fact]
    public void DiffusersUnet()
    {
        var path = Fixtures.Path_("unet", "diffusion_pytorch_model.safetensors");
        var r = CheckpointInspector.Inspect(path);
        Assert.Equal("safetensors", r.Format);
        Assert.Equal("diffusers", r.Layout);
        Assert.Equal(["unet"], r.Components);
        Assert.Equal("sd1", r.BaseModel.Family);
        Assert.Equal(32, r.BaseModel.CrossAttentionDim);
        Assert.Contains(r.BaseModel.Evidence, e => e.Contains("32") && e.Contains("proj_in"));
        Assert.Equal(684, r.Tensors!.Count);
        Assert.Equal(1_670_884, r.Tensors.Parameters); // README: 1,670,884 parameters
        Assert.Equal(684, r.Tensors.Dtypes["F32"]);
        Assert.Equal(0, r.Tensors.UnreferencedBytes);
        Assert.False(r.Ema!.Present);
        Assert.Equal(new FileInfo(path).Length, r.FileSize);
        var sha = Sha256Of(path);
        Assert.Equal(sha, r.Hashes!.Sha256);
        Assert.Equal(sha[..10], r.Hashes.AutoV2);
        Assert.Null(r.Lora);
        Assert.Empty(r.Warnings);
    }

    [Fact]
    public void LdmUnet()
    {
        var r = CheckpointInspector.Inspect(Fixtures.Path_("unet", "ldm_unet.safetensors"));
        Assert.Equal("ldm", r.Layout);
        Assert.Equal(["unet"], r.Components);
        Assert.Equal("sd1", r.BaseModel.Family);
        Assert.Equal(32, r.BaseModel.CrossAttentionDim);
        Assert.Equal(684, r.Tensors!.Count);
        Assert.Equal(1_670_884, r.Tensors.Parameters);
        // Non-kohya metadata passes through as strings.
        Assert.Equal(JsonValueKind.String, r.Metadata!["source"]!.GetValueKind());
    }

    [Fact]
    public void LdmVae()
    {
        var r = CheckpointInspector.Inspect(Fixtures.Path_("vae", "ldm_vae.safetensors"));
        Assert.Equal("ldm", r.Layout);
        Assert.Equal(["vae"], r.Components);
        Assert.Equal(244, r.Tensors!.Count);
        Assert.Equal(1_399_879, r.Tensors.Parameters);
        // A VAE alone does not say which UNet it belongs to.
        Assert.Equal("unknown", r.BaseModel.Family);
        Assert.Contains(r.BaseModel.Evidence, e => e.Contains("VAE"));
    }

    [Fact]
    public void DiffusersFolder()
    {
        var dir = Fixtures.Parity;
        var r = CheckpointInspector.Inspect(dir);
        Assert.Equal("diffusers-folder", r.Format);
        Assert.Equal("diffusers", r.Layout);
        Assert.Equal("sd1", r.BaseModel.Family);
        Assert.Equal(32, r.BaseModel.CrossAttentionDim);
        Assert.Null(r.Hashes);
        var p = r.Pipeline!;
        Assert.Equal("StableDiffusionPipeline", p.ClassName);
        Assert.Equal("0.33.1", p.DiffusersVersion);
        Assert.Equal(["scheduler", "text_encoder", "tokenizer", "unet", "vae"], r.Components.Order().ToArray());
        Assert.DoesNotContain("safety_checker", r.Components); // [null, null] in model_index.json

        var byName = p.Components.ToDictionary(c => c.Name);
        Assert.Equal("UNet2DConditionModel", byName["unet"].ConfigClass);
        Assert.Equal("AutoencoderKL", byName["vae"].ConfigClass);
        Assert.Equal("CLIPTextModel", byName["text_encoder"].ConfigClass);
        Assert.Equal("CLIPTokenizer", byName["tokenizer"].ConfigClass);
        Assert.Equal("DDIMScheduler", byName["scheduler"].ConfigClass);
        Assert.Equal("scheduler_config.json", byName["scheduler"].ConfigFile);
        Assert.All(p.Components, c => Assert.True(c.Exists));

        // Weights are the files the loaders read (not io.safetensors / ldm_unet.safetensors), with their hashes.
        var unetWeights = Assert.Single(byName["unet"].Weights);
        Assert.Equal("diffusion_pytorch_model.safetensors", unetWeights.File);
        Assert.Equal("diffusers", unetWeights.Layout);
        Assert.Equal(Sha256Of(Path.Combine(dir, "unet", "diffusion_pytorch_model.safetensors")), unetWeights.Hashes.Sha256);
        Assert.Equal(684, unetWeights.Tensors!.Count);
        Assert.Equal("model.safetensors", Assert.Single(byName["text_encoder"].Weights).File);
        Assert.Equal("diffusion_pytorch_model.safetensors", Assert.Single(byName["vae"].Weights).File);
        Assert.Empty(byName["tokenizer"].Weights);
        Assert.Contains(byName["unet"].Files, f => f.Name == "ldm_unet.safetensors");
        Assert.Contains(byName["tokenizer"].Files, f => f.Name == "vocab.json");
    }

    [Fact]
    public void SingleComponentFolder()
    {
        var r = CheckpointInspector.Inspect(Fixtures.Path_("unet"));
        Assert.Equal("diffusers-folder", r.Format);
        var c = Assert.Single(r.Pipeline!.Components);
        Assert.Equal("unet", c.Name);
        Assert.Equal("UNet2DConditionModel", c.ConfigClass);
        Assert.Equal("sd1", r.BaseModel.Family);
    }

    [Fact]
    public void KohyaLora()
    {
        var path = Fixtures.Path_("lora", "kohya_lora.safetensors");
        var r = CheckpointInspector.Inspect(path);
        Assert.Equal("kohya-lora", r.Layout);
        Assert.Equal(["unet"], r.Components);
        Assert.Equal("sd1", r.BaseModel.Family);
        Assert.Contains(r.BaseModel.Evidence, e => e.Contains("ss_base_model_version = sd_v1"));
        var lora = r.Lora!;
        Assert.Equal("lora", lora.Algorithm);
        Assert.Equal(192, lora.Modules);
        Assert.Equal(192, lora.UnetModules);
        Assert.Equal(0, lora.TextEncoderModules);
        Assert.Equal(0, lora.ConvModules);
        Assert.Equal(192, lora.Ranks["4"]);
        Assert.Equal(192, lora.Alphas!["2"]);
        Assert.Equal("diffusers", lora.UnetNaming);
        Assert.Equal("networks.lora", lora.NetworkModule);
        Assert.Null(r.Ema);

        var json = Json(r);
        var tags = json["metadata"]!["ss_tag_frequency"]!;
        Assert.Equal(JsonValueKind.Object, tags.GetValueKind());
        Assert.Equal(10, tags["10_sks dog"]!["sks dog"]!.GetValue<int>());
        Assert.Equal(JsonValueKind.Object, json["metadata"]!["ss_dataset_dirs"]!.GetValueKind());
        Assert.Equal(1, json["metadata"]!["ss_dataset_dirs"]!["10_sks dog"]!["img_count"]!.GetValue<int>());
        Assert.Equal(4, json["metadata"]!["ss_network_dim"]!.GetValue<int>());
        Assert.Equal(JsonValueKind.False, json["metadata"]!["ss_v2"]!.GetValueKind());
        Assert.Null(json["metadata"]!["ss_network_args"]); // "null"
        Assert.Equal("(512, 512)", json["metadata"]!["ss_resolution"]!.GetValue<string>());
        Assert.Equal("tiny-sd1-parity", json["metadata"]!["ss_sd_model_name"]!.GetValue<string>());
        Assert.Equal("stable-diffusion-v1/lora", json["metadata"]!["modelspec.architecture"]!.GetValue<string>());
        Assert.Equal(Sha256Of(path), json["hashes"]!["sha256"]!.GetValue<string>());
    }

    [Fact]
    public void KohyaLoraWithTextEncoderAndConvModules()
    {
        var r = CheckpointInspector.Inspect(Fixtures.Path_("lora", "kohya_lora_full.safetensors"));
        Assert.Equal("kohya-lora", r.Layout);
        Assert.Equal(["unet", "text_encoder"], r.Components);
        Assert.Equal("sd1", r.BaseModel.Family);
        var lora = r.Lora!;
        Assert.Equal(289, lora.Modules);
        Assert.Equal(12, lora.TextEncoderModules);
        Assert.Equal(277, lora.UnetModules);
        Assert.True(lora.ConvModules > 0);
        Assert.Equal(289, lora.Ranks["4"]);
        Assert.Equal(lora.ConvModules, lora.Alphas!["1"]); // conv_alpha 1.0 on the 3×3 convs, alpha 2 elsewhere
        var args = Json(r)["metadata"]!["ss_network_args"]!;
        Assert.Equal(JsonValueKind.Object, args.GetValueKind());
        Assert.Equal("4", args["conv_dim"]!.GetValue<string>());
    }

    [Fact]
    public void PeftLora()
    {
        var r = CheckpointInspector.Inspect(Fixtures.Path_("lora", "diffusers_lora", "pytorch_lora_weights.safetensors"));
        Assert.Equal("peft-lora", r.Layout);
        Assert.Equal(["unet"], r.Components);
        Assert.Equal("sd1", r.BaseModel.Family);
        Assert.Equal(32, r.BaseModel.CrossAttentionDim);
        Assert.Equal(192, r.Lora!.Modules);
        Assert.Equal(192, r.Lora.Ranks["4"]);
        Assert.Null(r.Lora.Alphas); // diffusers does not store alpha
    }

    [Fact]
    public void NonModelFileHasUnknownLayout()
    {
        var r = CheckpointInspector.Inspect(Fixtures.Path_("unet", "io.safetensors"));
        Assert.Equal("unknown", r.Layout);
        Assert.Equal("unknown", r.BaseModel.Family);
        Assert.Equal(26, r.Tensors!.Count);
        Assert.Equal(3, r.Tensors.Dtypes["I64"]);
    }

    // ---------------------------------------------------------------- generated files

    private static (string, long[])[] LoHaModule(string module, long outDim, long inDim, long rank) =>
    [
        ($"{module}.hada_w1_a", [outDim, rank]), ($"{module}.hada_w1_b", [rank, inDim]),
        ($"{module}.hada_w2_a", [outDim, rank]), ($"{module}.hada_w2_b", [rank, inDim]),
    ];

    [Fact]
    public void LoHaIsLycoris()
    {
        const string toK = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k";
        const string projIn = "lora_unet_down_blocks_0_attentions_0_proj_in";
        var path = Write("loha.safetensors",
            LoHaModule(toK, 320, 768, 8).Concat(LoHaModule(projIn, 320, 320, 8)),
            new() { ["ss_network_module"] = "lycoris.kohya", ["ss_network_args"] = "{\"algo\": \"loha\"}" },
            new() { [$"{toK}.alpha"] = 4f, [$"{projIn}.alpha"] = 4f });
        var r = CheckpointInspector.Inspect(path);
        Assert.Equal("lycoris", r.Layout);
        Assert.Equal("loha", r.Lora!.Algorithm);
        Assert.Equal(2, r.Lora.Modules);
        Assert.Equal(2, r.Lora.Ranks["8"]);
        Assert.Equal(2, r.Lora.Alphas!["4"]);
        Assert.Equal("lycoris.kohya", r.Lora.NetworkModule);
        Assert.Equal("sd1", r.BaseModel.Family);
        Assert.Equal(768, r.BaseModel.CrossAttentionDim);
        Assert.Equal("loha", Json(r)["metadata"]!["ss_network_args"]!["algo"]!.GetValue<string>());
    }

    [Fact]
    public void LoKrIsLycorisAndMetadataDecidesTheFamily()
    {
        var path = Write("lokr.safetensors",
            [("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lokr_w1", [8, 8]),
             ("lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lokr_w2", [80, 80]),
             ("lora_te2_text_model_encoder_layers_0_mlp_fc1.lokr_w1", [4, 4]),
             ("lora_te2_text_model_encoder_layers_0_mlp_fc1.lokr_w2", [8, 8])],
            new() { ["ss_base_model_version"] = "sdxl_base_v1-0" });
        var r = CheckpointInspector.Inspect(path);
        Assert.Equal("lycoris", r.Layout);
        Assert.Equal("lokr", r.Lora!.Algorithm);
        Assert.Equal(1, r.Lora.TextEncoder2Modules);
        Assert.Equal("ldm", r.Lora.UnetNaming);
        Assert.Equal(["unet", "text_encoder_2"], r.Components);
        Assert.Equal("sdxl", r.BaseModel.Family);
    }

    [Fact]
    public void OldAttnProcsLoraIsDiffusersLora()
    {
        const string m = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.processor";
        var path = Write("attn_procs.safetensors",
            [($"{m}.to_k_lora.down.weight", [4, 1024]), ($"{m}.to_k_lora.up.weight", [320, 4]),
             ($"{m}.to_q_lora.down.weight", [4, 320]), ($"{m}.to_q_lora.up.weight", [320, 4])]);
        var r = CheckpointInspector.Inspect(path);
        Assert.Equal("diffusers-lora", r.Layout);
        Assert.Equal(2, r.Lora!.Modules);
        Assert.Equal("sd2", r.BaseModel.Family);
        Assert.Equal(1024, r.BaseModel.CrossAttentionDim);
    }

    [Fact]
    public void DiffusersLoraDownUpIsDiffusersLora()
    {
        const string m = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k";
        var path = Write("dlora.safetensors",
            [($"{m}.lora.down.weight", [16, 2048]), ($"{m}.lora.up.weight", [640, 16]),
             ("text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora.down.weight", [16, 768]),
             ("text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora.up.weight", [768, 16])]);
        var r = CheckpointInspector.Inspect(path);
        Assert.Equal("diffusers-lora", r.Layout);
        Assert.Equal(["unet", "text_encoder"], r.Components);
        Assert.Equal("sdxl", r.BaseModel.Family);
        Assert.Equal(2, r.Lora!.Ranks["16"]);
    }

    [Fact]
    public void MetadataThatContradictsTheShapesIsAWarning()
    {
        const string m = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k";
        var path = Write("liar.safetensors",
            [($"{m}.lora_down.weight", [4, 2048]), ($"{m}.lora_up.weight", [320, 4])],
            new() { ["ss_base_model_version"] = "sd_v1" });
        var r = CheckpointInspector.Inspect(path);
        Assert.Equal("sdxl", r.BaseModel.Family);
        Assert.Contains(r.Warnings, w => w.Contains("metadata"));
    }

    [Fact]
    public void Sd2LdmCheckpoint()
    {
        var path = Write("sd2.safetensors",
            [("model.diffusion_model.input_blocks.1.1.proj_in.weight", [8, 8]),
             ("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", [8, 1024]),
             ("cond_stage_model.model.ln_final.weight", [1024]),
             ("first_stage_model.encoder.conv_in.weight", [4, 3, 3, 3])]);
        var r = CheckpointInspector.Inspect(path);
        Assert.Equal("ldm", r.Layout);
        Assert.Equal(["unet", "vae", "text_encoder"], r.Components);
        Assert.Equal("sd2", r.BaseModel.Family);
        Assert.Equal(1024, r.BaseModel.CrossAttentionDim);
    }

    [Fact]
    public void SdxlCheckpointWithEma()
    {
        var entries = new List<(string, long[])>
        {
            ("model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight", [2, 2048]),
            ("model.diffusion_model.label_emb.0.0.weight", [4, 4]),
            ("conditioner.embedders.0.transformer.text_model.final_layer_norm.weight", [4]),
            ("conditioner.embedders.1.model.ln_final.weight", [4]),
            ("model_ema.decay", []),
            ("model_ema.num_updates", []),
        };
        for (int i = 0; i < 120; i++) entries.Add(($"model_ema.diffusion_modelinput_blocks{i}0weight", [1]));
        var r = CheckpointInspector.Inspect(Write("sdxl_ema.safetensors", entries));
        Assert.Equal("ldm", r.Layout);
        Assert.Equal(["unet", "text_encoder", "text_encoder_2"], r.Components);
        Assert.Equal("sdxl", r.BaseModel.Family);
        Assert.True(r.Ema!.Present);
        Assert.Equal(120, r.Ema.KeyCount);
    }

    [Fact]
    public void FewEmaKeysDoNotCountAsEma()
    {
        var entries = new List<(string, long[])> { ("model.diffusion_model.input_blocks.0.0.weight", [4, 4, 3, 3]) };
        for (int i = 0; i < 50; i++) entries.Add(($"model_ema.diffusion_modelinput_blocks{i}0weight", [1]));
        var r = CheckpointInspector.Inspect(Write("few_ema.safetensors", entries));
        Assert.False(r.Ema!.Present);
        Assert.Equal(50, r.Ema.KeyCount);
    }

    [Fact]
    public void BareLdmUnetIsUnetOnly()
    {
        var r = CheckpointInspector.Inspect(Write("bare.safetensors",
            [("input_blocks.1.1.proj_in.weight", [32, 32, 1, 1]),
             ("input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", [32, 768]),
             ("time_embed.0.weight", [128, 32])]));
        Assert.Equal("unet-only", r.Layout);
        Assert.Equal("sd1", r.BaseModel.Family);
        Assert.Equal(768, r.BaseModel.CrossAttentionDim);
    }

    [Fact]
    public void RandomKeyNamesGiveUnknownLayoutButAFullReport()
    {
        var r = CheckpointInspector.Inspect(Write("random.safetensors", [("foo", [3, 4]), ("bar.baz", [5])], new() { ["k"] = "v" }));
        Assert.Equal("unknown", r.Layout);
        Assert.Equal("unknown", r.BaseModel.Family);
        Assert.Equal(2, r.Tensors!.Count);
        Assert.Equal(17, r.Tensors.Parameters);
        Assert.Equal("v", r.Metadata!["k"]!.GetValue<string>());
        Assert.NotNull(r.Hashes);
    }

    // ---------------------------------------------------------------- hashes and metadata

    [Fact]
    public void HashesOfASmallKnownFile()
    {
        var path = Path.Combine(_dir, "abc.bin");
        File.WriteAllText(path, "abc");
        var h = CheckpointHashes.Compute(path);
        // FIPS 180-2 test vector for "abc".
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", h.Sha256);
        Assert.Equal("ba7816bf8f", h.AutoV2);
        Assert.Null(h.AutoV3);
        // A1111's legacy hash reads 64 KiB at 1 MiB: nothing there, so it is the hash of no bytes.
        Assert.Equal("e3b0c442", h.A1111Legacy);
    }

    [Fact]
    public void HashesAcrossReadBuffers()
    {
        var bytes = new byte[9 * 1024 * 1024 + 3];
        new Random(7).NextBytes(bytes);
        var path = Path.Combine(_dir, "big.bin");
        File.WriteAllBytes(path, bytes);
        const int dataOffset = 5 * 1024 * 1024 + 17;
        var h = CheckpointHashes.Compute(path, dataOffset);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), h.Sha256);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes.AsSpan(dataOffset))), h.AutoV3);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes.AsSpan(0x100000, 0x10000)))[..8], h.A1111Legacy);
    }

    [Fact]
    public void AutoV3IsTheHashOfTheDataSectionAndChecksKohyasSshsHash()
    {
        var plain = Write("plain.safetensors", [("a", [7, 3])]);
        var bytes = File.ReadAllBytes(plain);
        long dataStart = 8 + BitConverter.ToInt64(bytes);
        var dataHash = Convert.ToHexStringLower(SHA256.HashData(bytes.AsSpan((int)dataStart)));

        var signed = CheckpointInspector.Inspect(Write("signed.safetensors", [("a", [7, 3])], new() { ["sshs_model_hash"] = dataHash }));
        Assert.Equal(dataHash, signed.Hashes!.AutoV3);
        Assert.True(signed.Hashes.SshsModelHashMatches);
        Assert.Empty(signed.Warnings);
        Assert.NotEqual(CheckpointInspector.Inspect(plain).Hashes!.Sha256, signed.Hashes.Sha256); // metadata changes SHA256…
        Assert.Equal(CheckpointInspector.Inspect(plain).Hashes!.AutoV3, signed.Hashes.AutoV3);   // …but not AutoV3

        var tampered = CheckpointInspector.Inspect(Write("tampered.safetensors", [("a", [7, 3])], new() { ["sshs_model_hash"] = new string('0', 64) }));
        Assert.False(tampered.Hashes!.SshsModelHashMatches);
        Assert.Contains(tampered.Warnings, w => w.Contains("sshs_model_hash"));
    }

    [Theory]
    [InlineData("ss_network_dim", "32", "32")]
    [InlineData("ss_learning_rate", "1e-4", "1e-4")]
    [InlineData("ss_network_alpha", "16.0", "16.0")]
    [InlineData("ss_sd_model_hash", "12345678", "\"12345678\"")]       // hashes stay strings
    [InlineData("ss_new_sd_model_hash", "1234", "\"1234\"")]
    [InlineData("ss_output_name", "0042", "\"0042\"")]
    [InlineData("ss_seed", "0042", "\"0042\"")]                         // not a plain number
    [InlineData("ss_clip_skip", "None", "null")]
    [InlineData("ss_shuffle_caption", "True", "true")]
    [InlineData("ss_network_args", "{\"conv_dim\": \"4\"}", "{\"conv_dim\":\"4\"}")]
    [InlineData("ss_bucket_info", "{\"buckets\": {\"0\": {\"resolution\": [512, 512], \"count\": 10}}}", "{\"buckets\":{\"0\":{\"resolution\":[512,512],\"count\":10}}}")]
    [InlineData("ss_datasets", "[{\"is_dreambooth\": true}]", "[{\"is_dreambooth\":true}]")]
    [InlineData("ss_tag_frequency", "{not json", "\"{not json\"")]      // malformed: kept as the string
    [InlineData("ss_resolution", "(512, 512)", "\"(512, 512)\"")]
    [InlineData("modelspec.resolution", "1024", "\"1024\"")]            // only ss_* are decoded
    [InlineData("ss_lr_scheduler", "NaN", "\"NaN\"")]
    public void KohyaMetadataValues(string key, string value, string expectedJson)
    {
        var json = KohyaMetadata.ToJson(new Dictionary<string, string> { [key] = value });
        Assert.Equal(expectedJson, json[key]?.ToJsonString() ?? "null");
    }

    [Fact]
    public void NonAsciiTagsAreWrittenAsIs()
    {
        var path = Write("tags.safetensors", [("a", [1])], new() { ["ss_tag_frequency"] = "{\"5_café\": {\"żółw <3\": 2}}" });
        var text = CheckpointInspector.Inspect(path).ToJson();
        Assert.Contains("\"żółw <3\": 2", text);
    }

    // ---------------------------------------------------------------- errors

    [Fact]
    public void MissingPath()
    {
        var e = Assert.Throws<FineXtractException>(() => CheckpointInspector.Inspect(Path.Combine(_dir, "nope.safetensors")));
        Assert.Contains("no such file", e.Message);
    }

    [Fact]
    public void FolderThatIsNotADiffusersFolder()
    {
        var e = Assert.Throws<FineXtractException>(() => CheckpointInspector.Inspect(_dir));
        Assert.Contains("not a diffusers folder", e.Message);
    }

    [Fact]
    public void MalformedModelIndex()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_dir, "pipe")).FullName;
        File.WriteAllText(Path.Combine(dir, "model_index.json"), "{\"unet\": [\"diffusers\", ");
        var e = Assert.Throws<FineXtractException>(() => CheckpointInspector.Inspect(dir));
        Assert.Contains("model_index.json", e.Message);
    }

    [Fact]
    public void ComponentFolderMissingIsAWarningAndPickleWeightsAreHashedNotOpened()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_dir, "pipe2")).FullName;
        File.WriteAllText(Path.Combine(dir, "model_index.json"),
            "{\"_class_name\": \"StableDiffusionPipeline\", \"unet\": [\"diffusers\", \"UNet2DConditionModel\"], \"vae\": [\"diffusers\", \"AutoencoderKL\"]}");
        var unet = Directory.CreateDirectory(Path.Combine(dir, "unet")).FullName;
        File.WriteAllText(Path.Combine(unet, "config.json"), "{\"_class_name\": \"UNet2DConditionModel\", \"cross_attention_dim\": 768}");
        File.WriteAllBytes(Path.Combine(unet, "diffusion_pytorch_model.bin"), Encoding.ASCII.GetBytes("PK\u0003\u0004 not really a zip"));
        var r = CheckpointInspector.Inspect(dir);
        var w = Assert.Single(r.Pipeline!.Components.Single(c => c.Name == "unet").Weights);
        Assert.Equal("pickle", w.Format);
        Assert.Equal(64, w.Hashes.Sha256.Length);
        Assert.False(r.Pipeline.Components.Single(c => c.Name == "vae").Exists);
        Assert.Contains(r.Warnings, x => x.Contains("vae"));
        Assert.Equal("unknown", r.BaseModel.Family);
    }

    [Fact]
    public void TruncatedFileIsAFormatError()
    {
        var source = File.ReadAllBytes(Fixtures.Path_("lora", "kohya_lora.safetensors"));
        var path = Path.Combine(_dir, "cut.safetensors");
        File.WriteAllBytes(path, source[..(source.Length - 1000)]);
        Assert.Throws<CheckpointFormatException>(() => CheckpointInspector.Inspect(path));
    }
}
