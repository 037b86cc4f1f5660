using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;
using TorchSharp;

namespace FineXtract.Diffusion.Tokenization;

/// <summary>
/// CLIP BPE tokenizer (openai/CLIP <c>simple_tokenizer.py</c>, HF <c>CLIPTokenizer</c>) as Stable Diffusion uses it:
/// clean the text (<see cref="TextFixer"/>), lowercase, split with CLIP's regex, byte-level BPE with the <c>&lt;/w&gt;</c>
/// end-of-word suffix, add BOS/EOS, truncate to <see cref="MaxLength"/> keeping EOS last, pad with <see cref="PadId"/>.
/// The BPE itself is Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>.
/// </summary>
public sealed class ClipTokenizer
{
    public const int DefaultMaxLength = 77;
    public const string DefaultBosToken = "<|startoftext|>";
    public const string DefaultEosToken = "<|endoftext|>";

    // openai/CLIP's split pattern (compiled there with IGNORECASE). Digits are single pieces; letters and
    // "other" runs are separate words; the special tokens and English contractions are their own pieces.
    private const string SplitPattern =
        @"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

    private readonly BpeTokenizer _bpe;

    private ClipTokenizer(BpeTokenizer bpe, int bosId, int eosId, int padId, string padToken, int maxLength)
    {
        _bpe = bpe;
        BosId = bosId;
        EosId = eosId;
        PadId = padId;
        PadToken = padToken;
        MaxLength = maxLength;
    }

    /// <summary>Sequence length after padding/truncation (77 for every SD text encoder).</summary>
    public int MaxLength { get; }

    /// <summary><c>&lt;|startoftext|&gt;</c>, 49406 in the CLIP vocabulary.</summary>
    public int BosId { get; }

    /// <summary><c>&lt;|endoftext|&gt;</c>, 49407 in the CLIP vocabulary.</summary>
    public int EosId { get; }

    /// <summary>SD1: <c>&lt;|endoftext|&gt;</c> = 49407; SD2 and SDXL's second tokenizer: <c>!</c> = 0.</summary>
    public int PadId { get; }

    public string PadToken { get; }

    /// <summary>
    /// Loads a diffusers <c>tokenizer/</c> folder (vocab.json, merges.txt and, when present, special_tokens_map.json and
    /// tokenizer_config.json). A pipeline root that contains a <c>tokenizer/</c> folder is accepted too.
    /// </summary>
    public static ClipTokenizer FromDirectory(string dir)
    {
        ArgumentNullException.ThrowIfNull(dir);
        if (!Directory.Exists(dir))
            throw new FineXtractException($"tokenizer folder not found: {dir}");
        if (!File.Exists(Path.Combine(dir, "vocab.json")) && File.Exists(Path.Combine(dir, "tokenizer", "vocab.json")))
            dir = Path.Combine(dir, "tokenizer");

        var vocabPath = Path.Combine(dir, "vocab.json");
        var mergesPath = Path.Combine(dir, "merges.txt");
        foreach (var required in new[] { vocabPath, mergesPath })
            if (!File.Exists(required))
                throw new FineXtractException($"not a CLIP tokenizer folder: {Path.GetFileName(required)} is missing in {dir}");

        var settings = TokenizerSettings.Read(dir);
        var vocab = ReadVocabulary(vocabPath);
        int IdOf(string token, string role) => vocab.TryGetValue(token, out var id)
            ? id
            : throw new FineXtractException($"{role} token '{token}' is not in {vocabPath}");
        var bosId = IdOf(settings.Bos, "bos");
        var eosId = IdOf(settings.Eos, "eos");
        var padId = IdOf(settings.Pad, "pad");

        // Only BOS/EOS are split out of the text as special tokens, as openai/CLIP's regex does. The pad token is used
        // for padding only ("!" in SD2 folders must keep tokenizing as ordinary punctuation).
        var special = new Dictionary<string, int> { [settings.Bos] = bosId, [settings.Eos] = eosId };
        BpeTokenizer bpe;
        try
        {
            bpe = BpeTokenizer.Create(new BpeOptions(vocabPath, mergesPath)
            {
                PreTokenizer = new RegexPreTokenizer(
                    new Regex(SplitPattern, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Compiled), special),
                Normalizer = LowerCaseNormalizer.Instance,
                EndOfWordSuffix = "</w>",
                ByteLevel = true,
                SpecialTokens = special,
            });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or JsonException or IOException)
        {
            throw new FineXtractException($"cannot read the CLIP tokenizer in {dir}: {e.Message}", e);
        }
        return new ClipTokenizer(bpe, bosId, eosId, padId, settings.Pad, settings.MaxLength);
    }

    /// <summary>The text after CLIP's cleaning and lowercasing, i.e. what the BPE sees.</summary>
    public static string Normalize(string text) =>
        TextFixer.ApplyPythonLowercaseSpecialCases(TextFixer.CleanForClip(text)).ToLowerInvariant();

    /// <summary>BOS, the BPE ids of the text, EOS; not truncated (it can be longer than <see cref="MaxLength"/>).</summary>
    public IReadOnlyList<int> EncodeUnpadded(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var clean = TextFixer.ApplyPythonLowercaseSpecialCases(TextFixer.CleanForClip(text));
        var body = clean.Length == 0 ? [] : _bpe.EncodeToIds(clean);
        var ids = new List<int>(body.Count + 2) { BosId };
        ids.AddRange(body);
        ids.Add(EosId);
        return ids;
    }

    /// <summary>
    /// Exactly <see cref="MaxLength"/> ids, as diffusers' <c>encode_prompt</c> gets them
    /// (<c>padding="max_length", truncation=True</c>): too long → the first MaxLength−1 ids followed by EOS.
    /// </summary>
    public long[] Encode(string text)
    {
        var ids = EncodeUnpadded(text);
        var result = new long[MaxLength];
        var keep = Math.Min(ids.Count, MaxLength);
        for (var i = 0; i < keep; i++) result[i] = ids[i];
        if (ids.Count > MaxLength) result[MaxLength - 1] = EosId;
        for (var i = keep; i < MaxLength; i++) result[i] = PadId;
        return result;
    }

    /// <summary>Size of the vocabulary (49,408 for CLIP).</summary>
    public int VocabularySize => _bpe.Vocabulary.Count;

    /// <summary>The text of one vocabulary entry; <paramref name="wholeWord"/> tells whether it ends a word (</w>).</summary>
    public string TokenText(int id, out bool wholeWord)
    {
        if (_idToToken is null)
        {
            var names = new string[_bpe.Vocabulary.Count];
            foreach (var (token, tokenId) in _bpe.Vocabulary)
                if (tokenId >= 0 && tokenId < names.Length) names[tokenId] = token;
            _idToToken = names;
        }
        wholeWord = _idToToken[id]?.EndsWith("</w>", StringComparison.Ordinal) == true;
        return (_bpe.Decode([id]) ?? string.Empty).Trim();
    }

    private string[]? _idToToken;

    /// <summary>int64 tensor [n, <see cref="MaxLength"/>] on the CPU, one row per text.</summary>
    public torch.Tensor EncodeBatch(IEnumerable<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        var rows = texts.Select(Encode).ToList();
        var flat = new long[rows.Count * MaxLength];
        for (var r = 0; r < rows.Count; r++) rows[r].CopyTo(flat, r * MaxLength);
        return torch.tensor(flat, [rows.Count, MaxLength], torch.ScalarType.Int64);
    }

    private static Dictionary<string, int> ReadVocabulary(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return JsonSerializer.Deserialize<Dictionary<string, int>>(stream)
                ?? throw new FineXtractException($"{path} is empty");
        }
        catch (JsonException e)
        {
            throw new FineXtractException($"{path} is not a token→id JSON object: {e.Message}", e);
        }
    }

    /// <summary>Special tokens and maximum length from tokenizer_config.json, overridden by special_tokens_map.json.</summary>
    private sealed record TokenizerSettings(string Bos, string Eos, string Pad, int MaxLength)
    {
        public static TokenizerSettings Read(string dir)
        {
            var settings = new TokenizerSettings(DefaultBosToken, DefaultEosToken, DefaultEosToken, DefaultMaxLength);
            foreach (var file in new[] { "tokenizer_config.json", "special_tokens_map.json" })
            {
                var path = Path.Combine(dir, file);
                if (!File.Exists(path)) continue;
                try
                {
                    using var doc = JsonDocument.Parse(File.ReadAllText(path));
                    if (doc.RootElement.ValueKind != JsonValueKind.Object)
                        throw new FineXtractException($"{path} is not a JSON object");
                    var root = doc.RootElement;
                    settings = settings with
                    {
                        Bos = TokenOf(root, "bos_token") ?? settings.Bos,
                        Eos = TokenOf(root, "eos_token") ?? settings.Eos,
                        Pad = TokenOf(root, "pad_token") ?? settings.Pad,
                        MaxLength = MaxLengthOf(root) ?? settings.MaxLength,
                    };
                }
                catch (JsonException e)
                {
                    throw new FineXtractException($"{path} is not valid JSON: {e.Message}", e);
                }
            }
            return settings;
        }

        // A token is written either as a string or as an AddedToken object {"content": ..., "lstrip": ...}.
        private static string? TokenOf(JsonElement root, string name)
        {
            if (!root.TryGetProperty(name, out var value)) return null;
            if (value.ValueKind == JsonValueKind.String) return value.GetString();
            if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("content", out var content)
                && content.ValueKind == JsonValueKind.String)
                return content.GetString();
            return null;
        }

        // HF writes a huge sentinel (1e30) when the length is unknown; only a real CLIP context length is taken.
        private static int? MaxLengthOf(JsonElement root) =>
            root.TryGetProperty("model_max_length", out var v) && v.ValueKind == JsonValueKind.Number
                && v.TryGetInt32(out var n) && n is >= 2 and <= DefaultMaxLength ? n : null;
    }
}
