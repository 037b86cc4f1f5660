using FineXtract.Extraction.Pipeline;
using FineXtract.Extraction.Prompts;
using FineXtract.Tests.Cli;

namespace FineXtract.Tests.Prompts;

public class PromptRecoveryTests
{
    [Fact]
    public void KohyaDatasetFolderGivesTheInstancePrompt()
    {
        var meta = new Dictionary<string, string>
        {
            ["ss_tag_frequency"] = """{"10_ohwx cat": {"ohwx cat": 6, "on a sofa": 2}, "1_reg": {"cat": 3}}""",
            ["ss_output_name"] = "my_cat_lora",
        };
        var candidates = PromptRecovery.FromMetadata(meta);
        Assert.Equal("ohwx cat", candidates[0].Prompt);
        Assert.Contains(candidates, c => c.Prompt == "on a sofa" && c.Evidence.Contains("2×"));
        Assert.Contains(candidates, c => c.Prompt == "my_cat_lora");
    }

    [Fact]
    public void MalformedMetadataIsIgnoredNotFatal()
    {
        var candidates = PromptRecovery.FromMetadata(new Dictionary<string, string> { ["ss_tag_frequency"] = "{not json" });
        Assert.Empty(candidates);
    }

    [Fact]
    public void AutoPromptPrefersMetadataAndFallsBackToTheProbe()
    {
        using var models = ExtractionModels.Load(new ModelSources(Fixtures.Parity, null, Fixtures.Path_("lora", "kohya_lora.safetensors")));
        var withMeta = PromptRecovery.Recover(models, new Dictionary<string, string> { ["ss_tag_frequency"] = """{"10_sks dog": {"sks dog": 5}}""" },
            new PromptProbeOptions(VocabularyLimit: 50));
        Assert.Equal("sks dog", withMeta.Prompt);
        Assert.StartsWith("metadata", withMeta.Reason);

        var options = new PromptProbeOptions(VocabularyLimit: 50, ProbeImages: 2);
        var blind = PromptRecovery.Recover(models, null, options);
        var again = PromptRecovery.Recover(models, null, options);
        Assert.False(string.IsNullOrWhiteSpace(blind.Prompt));
        Assert.Equal(blind.Prompt, again.Prompt); // deterministic
        Assert.Contains(blind.Candidates, c => c.Source == "unet-probe");
        Assert.StartsWith("unet probe", blind.Reason);
    }

    [Fact]
    public void TextEncoderDriftFindsTokensOnlyWhenTheTextEncoderChanged()
    {
        using var unetOnly = ExtractionModels.Load(new ModelSources(Fixtures.Parity, null, Fixtures.Path_("lora", "kohya_lora.safetensors")));
        Assert.Empty(PromptRecovery.FromTextEncoderDrift(unetOnly));
        using var withText = ExtractionModels.Load(new ModelSources(Fixtures.Parity, null, Fixtures.Path_("lora", "kohya_lora_full.safetensors")));
        var drift = PromptRecovery.FromTextEncoderDrift(withText, top: 5, vocabularyLimit: 300);
        Assert.Equal(5, drift.Count);
        Assert.True(drift[0].Score >= drift[^1].Score && drift[0].Score > 0);
    }

    [Fact]
    public async Task PromptsVerbPrintsTheChoiceAsJson()
    {
        var (code, stdout, stderr) = await CliHarness.RunAsync("prompts", "--base", Fixtures.Parity, "--lora", Fixtures.Path_("lora", "kohya_lora.safetensors"));
        Assert.True(code == 0, stderr);
        Assert.Contains("\"chosen\": \"sks dog\"", stdout);
        var (bad, _, err) = await CliHarness.RunAsync("prompts", "--base", Fixtures.Parity);
        Assert.Equal(2, bad);
        Assert.Contains("exactly one of --finetuned", err);
    }
}
