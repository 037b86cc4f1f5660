using System.Text.Json;
using FineXtract.Checkpoints;
using FineXtract.Diffusion.Tokenization;
using TorchSharp;

namespace FineXtract.Tests.Tokenization;

public class ClipTokenizerTests
{
    private static readonly Lazy<ClipTokenizer> Sd1 = new(() => ClipTokenizer.FromDirectory(Fixtures.Path_("tokenizer")));

    private static readonly Lazy<JsonElement[]> Entries = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path_("tokenizer", "tokens.json")));
        return doc.RootElement.GetProperty("entries").EnumerateArray().Select(e => e.Clone()).ToArray();
    });

    public static IEnumerable<object[]> EntryIndices() => Enumerable.Range(0, Entries.Value.Length).Select(i => new object[] { i });

    [Fact]
    public void FixtureHas43Entries() => Assert.Equal(43, Entries.Value.Length);

    [Theory]
    [MemberData(nameof(EntryIndices))]
    public void MatchesReferenceIds(int index)
    {
        var entry = Entries.Value[index];
        var text = entry.GetProperty("text").GetString()!;
        var expectedPadded = entry.GetProperty("ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var expectedUnpadded = entry.GetProperty("ids_unpadded").EnumerateArray().Select(e => e.GetInt32()).ToArray();

        Assert.Equal(expectedUnpadded, Sd1.Value.EncodeUnpadded(text).ToArray());
        Assert.Equal(expectedPadded, Sd1.Value.Encode(text));
    }

    [Fact]
    public void ReadsSpecialTokensFromFixtureFolder()
    {
        var tok = Sd1.Value;
        Assert.Equal(77, tok.MaxLength);
        Assert.Equal(49406, tok.BosId);
        Assert.Equal(49407, tok.EosId);
        Assert.Equal(49407, tok.PadId);
        Assert.Equal("<|endoftext|>", tok.PadToken);
    }

    [Fact]
    public void DocumentedAstronautPrompt()
    {
        var ids = Sd1.Value.EncodeUnpadded("a photo of an astronaut riding a horse on mars");
        Assert.Equal(new[] { 49406, 320, 1125, 539, 550, 18376, 6765, 320, 4558, 525, 7496, 49407 }, ids.ToArray());
    }

    [Fact]
    public void Sd2StylePadTokenPadsWithZero()
    {
        var dir = CopyTokenizerFolder();
        try
        {
            // stabilityai/stable-diffusion-2 tokenizer: pad_token "!" (id 0), the rest as in SD1.
            File.WriteAllText(Path.Combine(dir, "special_tokens_map.json"),
                """{"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "!", "unk_token": "<|endoftext|>"}""");
            File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
                """{"model_max_length": 77, "pad_token": {"content": "!", "lstrip": false}, "do_lower_case": true}""");
            var tok = ClipTokenizer.FromDirectory(dir);
            Assert.Equal(0, tok.PadId);
            Assert.Equal("!", tok.PadToken);

            var ids = tok.Encode("sks dog");
            Assert.Equal(new long[] { 49406, 48136, 1929, 49407 }, ids[..4]);
            Assert.All(ids[4..], id => Assert.Equal(0, id));
            // "!" in the text is still ordinary punctuation, not the pad token.
            Assert.Equal(Sd1.Value.EncodeUnpadded("wow!"), tok.EncodeUnpadded("wow!"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void WithoutConfigFilesDefaultsToSd1Tokens()
    {
        var dir = CopyTokenizerFolder();
        try
        {
            File.Delete(Path.Combine(dir, "special_tokens_map.json"));
            File.Delete(Path.Combine(dir, "tokenizer_config.json"));
            var tok = ClipTokenizer.FromDirectory(dir);
            Assert.Equal(49407, tok.PadId);
            Assert.Equal(77, tok.MaxLength);
            Assert.Equal(Sd1.Value.Encode("art style of claude monet"), tok.Encode("art style of claude monet"));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void AcceptsPipelineRootFolder()
    {
        var tok = ClipTokenizer.FromDirectory(Fixtures.Parity);
        Assert.Equal(Sd1.Value.Encode("sks dog"), tok.Encode("sks dog"));
    }

    [Fact]
    public void MissingFolderIsAUserError()
    {
        var missing = Path.Combine(Path.GetTempPath(), "finextract-no-such-tokenizer-" + Guid.NewGuid().ToString("N"));
        var e = Assert.Throws<FineXtractException>(() => ClipTokenizer.FromDirectory(missing));
        Assert.Contains("tokenizer folder not found", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void MissingMergesIsAUserError()
    {
        var dir = CopyTokenizerFolder();
        try
        {
            File.Delete(Path.Combine(dir, "merges.txt"));
            var e = Assert.Throws<FineXtractException>(() => ClipTokenizer.FromDirectory(dir));
            Assert.Contains("merges.txt is missing", e.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void LongPromptIsTruncatedWithEosLast()
    {
        var text = string.Join(' ', Enumerable.Repeat("dog", 100));
        Assert.Equal(102, Sd1.Value.EncodeUnpadded(text).Count);
        var ids = Sd1.Value.Encode(text);
        Assert.Equal(77, ids.Length);
        Assert.Equal(49406, ids[0]);
        Assert.Equal(49407, ids[76]);
        Assert.All(ids[1..76], id => Assert.Equal(1929, id));
    }

    [Fact]
    public void EncodeBatchGivesInt64Matrix()
    {
        using var t = Sd1.Value.EncodeBatch(["sks dog", "", "art style of claude monet"]);
        Assert.Equal(torch.ScalarType.Int64, t.dtype);
        Assert.Equal(new long[] { 3, 77 }, t.shape);
        Assert.Equal(Sd1.Value.Encode("art style of claude monet"), t[2].data<long>().ToArray());
        Assert.Equal(Sd1.Value.Encode(""), t[1].data<long>().ToArray());
    }

    [Fact]
    public void MatchesTextEncoderFixtureInputIds()
    {
        using var f = SafeTensorsFile.Open(Fixtures.Path_("text_encoder", "io.safetensors"));
        using var expected = f.Load("input_ids");
        string[] prompts = JsonSerializer.Deserialize<string[]>(f.Metadata["prompts"])!;
        using var actual = Sd1.Value.EncodeBatch(prompts);
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(expected.data<long>().ToArray(), actual.data<long>().ToArray());
    }

    private static string CopyTokenizerFolder()
    {
        var dir = Path.Combine(Path.GetTempPath(), "finextract-tok-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        foreach (var name in new[] { "vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json" })
        {
            File.Copy(Fixtures.Path_("tokenizer", name), Path.Combine(dir, name));
            File.SetAttributes(Path.Combine(dir, name), FileAttributes.Normal); // the fixtures are read-only
        }
        return dir;
    }
}
