using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using System.Text.Unicode;

namespace FineXtract.Diffusion.Tokenization;

/// <summary>
/// Text cleaning in front of the CLIP BPE, as openai/CLIP's <c>simple_tokenizer.py</c> and the HF slow
/// <c>CLIPTokenizer</c> (with ftfy installed) do it:
/// <c>ftfy.fix_text</c> → <c>html.unescape</c> twice → collapse whitespace → strip (→ lowercase, done by the tokenizer).
/// <para>
/// ftfy is Python-only, so <see cref="FixText"/> re-implements the subset of <c>fix_text</c>'s default fixes that
/// matter for prompts: HTML entities, UTF-8 mojibake, C1 controls, Latin ligatures, full-width forms, curly quotes,
/// line breaks, lone surrogates, terminal escapes, control characters and NFC. Each fix is one small method below.
/// Not reproduced: ftfy's full "badness" scoring (we use a smaller heuristic, <see cref="LooksLikeMojibake"/>),
/// the non-Windows-1252 single-byte encodings (1250/1251/1253/1254/1257, ISO-8859-2, MacRoman, CP437),
/// CESU-8/"utf-8-variants", the lossy-sequence and 0xA0-restoration repairs, and all-caps HTML5 entity names.
/// </para>
/// </summary>
public static class TextFixer
{
    /// <summary>The complete CLIP cleaning (everything except lowercasing).</summary>
    public static string CleanForClip(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var fixedText = FixText(text);
        // CLIP's basic_clean unescapes twice on top of ftfy, so doubly escaped text ("&amp;amp;") also comes out plain.
        var unescaped = WebUtility.HtmlDecode(WebUtility.HtmlDecode(fixedText));
        return CollapseWhitespace(unescaped);
    }

    /// <summary>
    /// The subset of <c>ftfy.fix_text</c> (default configuration) described on the class.
    /// Like ftfy, it works line by line and repeats the fixes on each line until nothing changes.
    /// </summary>
    public static string FixText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new StringBuilder(text.Length);
        // ftfy's unescape_html="auto": a literal '<' means the text is real HTML, whose entities must stay;
        // once seen, unescaping stays off for the rest of the text.
        var unescapeHtml = true;
        var pos = 0;
        while (pos < text.Length)
        {
            var lineEnd = text.IndexOf('\n', pos);
            var end = lineEnd < 0 ? text.Length : lineEnd + 1;
            var segment = text[pos..end];
            if (segment.Contains('<')) unescapeHtml = false;
            output.Append(FixSegment(segment, unescapeHtml));
            pos = end;
        }
        return output.ToString();
    }

    private static string FixSegment(string text, bool unescapeHtml)
    {
        // A fix can expose another one (an entity that hid mojibake, doubly encoded UTF-8...), so loop to a fixed point.
        for (var round = 0; round < 16; round++)
        {
            var before = text;
            if (unescapeHtml) text = UnescapeHtmlEntities(text);
            text = FixUtf8Mojibake(text);
            text = FixC1Controls(text);
            text = FixLatinLigatures(text);
            text = FixCharacterWidth(text);
            text = UncurlQuotes(text);
            text = FixLineBreaks(text);
            text = FixSurrogates(text);
            text = RemoveTerminalEscapes(text);
            text = RemoveControlChars(text);
            // Composed and decomposed accents ("é" vs "e"+U+0301) must give the same tokens.
            text = text.Normalize(NormalizationForm.FormC);
            if (text == before) break;
        }
        return text;
    }

    // ---- HTML entities ----------------------------------------------------------------------------------------

    // Only complete entities ending in ';' are decoded, so informal text such as "this&not that" stays as written.
    private static readonly Regex HtmlEntity = new(@"&#?[0-9A-Za-z]{1,24};", RegexOptions.CultureInvariant);

    /// <summary>"&amp;amp;" → "&amp;", "&amp;#x2019;" → "’": web-scraped captions are often HTML-escaped.</summary>
    public static string UnescapeHtmlEntities(string text) =>
        text.Contains('&') ? HtmlEntity.Replace(text, m => WebUtility.HtmlDecode(m.Value)) : text;

    // ---- Mojibake: UTF-8 bytes that were decoded as Windows-1252 / Latin-1 -------------------------------------

    private static readonly Encoding Windows1252 = CodePagesEncodingProvider.Instance.GetEncoding(1252)
        ?? throw new InvalidOperationException("code page 1252 is not available");

    // Reverse "sloppy" Windows-1252: every byte 0x00–0xFF has a character; the five bytes 1252 leaves undefined
    // (0x81, 0x8D, 0x8F, 0x90, 0x9D) map to the C1 control of the same value, so Latin-1 mojibake is covered too.
    private static readonly Dictionary<char, byte> SloppyWindows1252Bytes = BuildSloppyWindows1252();

    private static Dictionary<char, byte> BuildSloppyWindows1252()
    {
        var map = new Dictionary<char, byte>();
        for (var b = 0x80; b <= 0xFF; b++)
        {
            var c = Windows1252.GetString([(byte)b]);
            map[c.Length == 1 && c[0] != '\uFFFD' ? c[0] : (char)b] = (byte)b;
            map.TryAdd((char)b, (byte)b); // Latin-1 reading of the same byte (C1 controls)
        }
        return map;
    }

    private static bool TryGetByte(char c, out byte b)
    {
        if (c < 0x80) { b = (byte)c; return true; }
        return SloppyWindows1252Bytes.TryGetValue(c, out b);
    }

    // Punctuation that legitimately follows a letter ("CAFÉ…", "Brontë…”", "10 Å—", "AHÅ™"): a three- or
    // four-character candidate made only of these is left alone.
    private static readonly SearchValues<char> PlausibleAfterLetter =
        SearchValues.Create("\u00A0\u00AD\u00B7\u00B4\u00B0\u2013\u2014\u2026\u2018\u2019\u201A\u201C\u201D\u201E\u00AB\u00BB\u2022\u2122\u00AE\u00A9");

    // The subset that can also sit between an accented capital and another letter ("JOSÉ’s", "É–A", "SELKÄ EDELLÄ").
    private static readonly SearchValues<char> PlausibleInsideWord =
        SearchValues.Create("\u00A0\u00AD\u00B7\u00B4\u2013\u2014\u2026\u2019\u2122\u00AE\u00A9");

    // Superscripts, fractions, micro, pilcrow, section and degree signs right after an accented capital are
    // almost always the second byte of a UTF-8 character ("Å³" = ų, "Ä°" = İ).
    private static readonly SearchValues<char> UnlikelyAfterCapital =
        SearchValues.Create("\u00B2\u00B3\u00B9\u00BC\u00BD\u00BE\u00B5\u00B6\u00A7\u00B0");

    /// <summary>
    /// "cafÃ©" → "café", "â€œquotedâ€\u009d" → "“quoted”", "ðŸ˜€" → "😀": text that was UTF-8 but got decoded
    /// as Windows-1252 or Latin-1. If the whole text re-encodes to valid UTF-8 it is decoded as a whole,
    /// otherwise only the runs that contain a suspicious sequence are. Repeats for text that was mis-decoded twice.
    /// </summary>
    public static string FixUtf8Mojibake(string text)
    {
        for (var round = 0; round < 4 && LooksLikeMojibake(text); round++)
        {
            var fixedText = TryDecodeWholeText(text) ?? DecodeSuspiciousRuns(text);
            if (fixedText == text) break;
            text = fixedText;
        }
        return text;
    }

    /// <summary>True when the text contains at least one sequence that <see cref="IsSuspicious"/> flags.</summary>
    public static bool LooksLikeMojibake(string text)
    {
        for (var i = 0; i < text.Length; i++)
            if (text[i] >= 0x80 && MatchUtf8Sequence(text, i, out var length, out _) && IsSuspicious(text, i, length))
                return true;
        return false;
    }

    /// <summary>
    /// Is the mojibake reading of text[start..start+length] credible? The rules, most specific first:
    /// <list type="bullet">
    /// <item>a C1 control among the continuation characters: those never occur in real text;</item>
    /// <item>three or four characters ("â€™" = ’, "ä¸­" = 中, "ðŸ˜€" = 😀): unless all continuation characters are
    /// punctuation that plausibly follows a letter;</item>
    /// <item>lead Â or Ã (UTF-8 of U+0080–U+00FF: "Ã©" = é, "Â°" = °), the most frequent mojibake by far, unless the
    /// second character is ’ or … ("Ã’s" is more likely meant);</item>
    /// <item>another two-character candidate: a superscript/fraction/degree-like second character, or one inside a
    /// word ("Å¡t" = št, "Ð¿Ñ€" = пр) that is neither word-internal punctuation nor a currency sign ("MÄ£ÄM",
    /// "5×£35" are leetspeak and arithmetic).</item>
    /// </list>
    /// </summary>
    private static bool IsSuspicious(string text, int start, int length)
    {
        var continuation = text.AsSpan(start + 1, length - 1);
        if (continuation.IndexOfAnyInRange('\u0080', '\u009F') >= 0) return true;
        if (length >= 3) return continuation.IndexOfAnyExcept(PlausibleAfterLetter) >= 0;
        var second = continuation[0];
        if (text[start] is '\u00C2' or '\u00C3') return second is not ('\u2019' or '\u2026');
        if (UnlikelyAfterCapital.Contains(second)) return true;
        // Inside a word: a letter follows, or the next mojibake sequence does (Hebrew "×¨×™": × is not a letter).
        var insideWord = start + 2 < text.Length
            && (char.IsLetter(text[start + 2]) || MatchUtf8Sequence(text, start + 2, out _, out _));
        return insideWord && !PlausibleInsideWord.Contains(second)
            && char.GetUnicodeCategory(second) != UnicodeCategory.CurrencySymbol;
    }

    /// <summary>
    /// Do the characters at <paramref name="start"/>, read back as Windows-1252 bytes, form one complete
    /// multi-byte UTF-8 character? (Overlong forms, surrogates and code points above U+10FFFF are refused.)
    /// </summary>
    private static bool MatchUtf8Sequence(string text, int start, out int length, out Rune rune)
    {
        length = 0;
        rune = default;
        if (!TryGetByte(text[start], out var lead)) return false;
        var need = lead switch { >= 0xC2 and <= 0xDF => 2, >= 0xE0 and <= 0xEF => 3, >= 0xF0 and <= 0xF4 => 4, _ => 0 };
        if (need == 0 || start + need > text.Length) return false;
        Span<byte> bytes = stackalloc byte[4];
        bytes[0] = lead;
        for (var k = 1; k < need; k++)
            if (!TryGetByte(text[start + k], out bytes[k]) || bytes[k] is < 0x80 or > 0xBF) return false;
        if (Rune.DecodeFromUtf8(bytes[..need], out rune, out var consumed) != OperationStatus.Done || consumed != need)
            return false;
        length = need;
        return true;
    }

    private static string? TryDecodeWholeText(string text)
    {
        var bytes = new byte[text.Length];
        for (var i = 0; i < text.Length; i++)
            if (!TryGetByte(text[i], out bytes[i])) return null;
        return Utf8.IsValid(bytes) ? Encoding.UTF8.GetString(bytes) : null;
    }

    // Text that mixes encodings cannot be decoded as a whole; decode each run of adjacent UTF-8 look-alikes that
    // contains a suspicious sequence ("Ð±ÑŠÐ»Ð³" = болг, where "Ð»" alone would not be convincing).
    private static string DecodeSuspiciousRuns(string text)
    {
        var sb = new StringBuilder(text.Length);
        var decodedRun = new StringBuilder();
        for (var i = 0; i < text.Length;)
        {
            var runStart = i;
            var suspicious = false;
            decodedRun.Clear();
            while (i < text.Length && text[i] >= 0x80 && MatchUtf8Sequence(text, i, out var length, out var rune))
            {
                suspicious |= IsSuspicious(text, i, length);
                decodedRun.Append(rune.ToString());
                i += length;
            }
            if (i == runStart) sb.Append(text[i++]);
            else if (suspicious) sb.Append(decodedRun);
            else sb.Append(text, runStart, i - runStart);
        }
        return sb.ToString();
    }

    // ---- Single-character fixes ---------------------------------------------------------------------------------

    /// <summary>
    /// C1 controls (U+0080–U+009F) are never intended; they are Windows-1252 bytes read as Latin-1
    /// (U+0093 → “). Bytes that Windows-1252 leaves undefined stay as they are.
    /// </summary>
    public static string FixC1Controls(string text)
    {
        if (!text.Any(c => c is >= '\u0080' and <= '\u009F')) return text;
        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
            if (chars[i] is >= '\u0080' and <= '\u009F')
            {
                var decoded = Windows1252.GetString([(byte)chars[i]]);
                if (decoded.Length == 1 && decoded[0] != '\uFFFD') chars[i] = decoded[0];
            }
        return new string(chars);
    }

    // Single-step compatibility decompositions of Latin typographic ligatures and legacy digraphs. Ligatures that
    // are real letters in some languages (æ, œ) are left alone.
    private static readonly Dictionary<char, string> LatinLigatures = new()
    {
        ['\u0132'] = "IJ", ['\u0133'] = "ij", ['\u0149'] = "\u02BCn",
        ['\u01C4'] = "D\u017D", ['\u01C5'] = "D\u017E", ['\u01C6'] = "d\u017E",
        ['\u01C7'] = "LJ", ['\u01C8'] = "Lj", ['\u01C9'] = "lj",
        ['\u01CA'] = "NJ", ['\u01CB'] = "Nj", ['\u01CC'] = "nj",
        ['\u01F1'] = "DZ", ['\u01F2'] = "Dz", ['\u01F3'] = "dz",
        ['\uFB00'] = "ff", ['\uFB01'] = "fi", ['\uFB02'] = "fl", ['\uFB03'] = "ffi", ['\uFB04'] = "ffl",
        ['\uFB05'] = "\u017Ft", ['\uFB06'] = "st",
    };

    /// <summary>"ﬁne" → "fine": ligatures come from copying rendered text (PDFs) and would tokenize as bytes.</summary>
    public static string FixLatinLigatures(string text) => MapChars(text, LatinLigatures);

    // U+FF01–U+FFEF (full-width ASCII, half-width katakana/Hangul, full-width symbols) → their NFKC form, plus the
    // ideographic space U+3000 → ' '. Only these blocks: full NFKC would also rewrite ², ½, ™...
    private static readonly Dictionary<char, string> WidthForms = BuildWidthForms();

    private static Dictionary<char, string> BuildWidthForms()
    {
        var map = new Dictionary<char, string> { ['\u3000'] = " " };
        for (var c = '\uFF01'; c < '\uFFF0'; c++)
        {
            var normal = c.ToString().Normalize(NormalizationForm.FormKC);
            if (normal != c.ToString()) map[c] = normal;
        }
        return map;
    }

    /// <summary>"ｆｕｌｌｗｉｄｔｈ" → "fullwidth": CJK input methods produce full-width Latin letters and digits.</summary>
    public static string FixCharacterWidth(string text) => MapChars(text, WidthForms);

    /// <summary>‘ ’ ‚ ‛ ʼ → ' and “ ” „ ‟ → ": word processors curl quotes; CLIP's contractions ('s, 't) need straight ones.</summary>
    public static string UncurlQuotes(string text)
    {
        if (!text.Any(c => c is '\u02BC' or >= '\u2018' and <= '\u201F')) return text;
        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
            chars[i] = chars[i] switch
            {
                '\u02BC' or >= '\u2018' and <= '\u201B' => '\'',
                >= '\u201C' and <= '\u201F' => '"',
                var c => c,
            };
        return new string(chars);
    }

    /// <summary>CRLF, CR, U+2028, U+2029 and NEL (U+0085) → '\n', so every kind of line break is treated alike.</summary>
    public static string FixLineBreaks(string text) =>
        text.Replace("\r\n", "\n").Replace('\r', '\n').Replace('\u2028', '\n').Replace('\u2029', '\n').Replace('\u0085', '\n');

    /// <summary>Unpaired UTF-16 surrogates cannot be encoded to UTF-8; replace them with U+FFFD as ftfy does.</summary>
    public static string FixSurrogates(string text)
    {
        char[]? chars = null;
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
            if (char.IsSurrogate(text[i])) (chars ??= text.ToCharArray())[i] = '\uFFFD';
        }
        return chars is null ? text : new string(chars);
    }

    private static readonly Regex AnsiEscape = new("\u001B\\[[0-9;]*[a-zA-Z]", RegexOptions.CultureInvariant);

    /// <summary>Removes ANSI colour codes ("\e[36;44m") that come with text copied from terminals.</summary>
    public static string RemoveTerminalEscapes(string text) => text.Contains('\u001B') ? AnsiEscape.Replace(text, "") : text;

    /// <summary>
    /// Drops invisible controls nobody means to type: C0 controls except tab, line feed, form feed and carriage
    /// return; DEL; the deprecated Arabic format controls U+206A–U+206F; the byte-order mark U+FEFF; the
    /// interlinear annotation characters and U+FFFC. Joiners (ZWJ in emoji), bidi marks and U+200B stay.
    /// </summary>
    public static string RemoveControlChars(string text)
    {
        if (!text.Any(IsUnwantedControl)) return text;
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
            if (!IsUnwantedControl(c)) sb.Append(c);
        return sb.ToString();
    }

    private static bool IsUnwantedControl(char c) => c switch
    {
        <= '\u0008' or '\u000B' or >= '\u000E' and <= '\u001F' or '\u007F' => true,
        >= '\u206A' and <= '\u206F' or '\uFEFF' or >= '\uFFF9' and <= '\uFFFC' => true,
        _ => false,
    };

    // ---- CLIP's own whitespace handling -------------------------------------------------------------------------

    /// <summary>
    /// CLIP's <c>re.sub(r"\s+", " ", text).strip()</c>. Python's <c>\s</c> is <c>str.isspace</c>, which, unlike
    /// <see cref="char.IsWhiteSpace(char)"/>, also includes the separators U+001C–U+001F.
    /// </summary>
    public static string CollapseWhitespace(string text)
    {
        var sb = new StringBuilder(text.Length);
        var pendingSpace = false;
        foreach (var c in text)
        {
            if (IsPythonWhitespace(c)) { pendingSpace = sb.Length > 0; continue; }
            if (pendingSpace) sb.Append(' ');
            pendingSpace = false;
            sb.Append(c);
        }
        return sb.ToString();
    }

    internal static bool IsPythonWhitespace(char c) => char.IsWhiteSpace(c) || c is >= '\u001C' and <= '\u001F';

    /// <summary>
    /// The two places where Python's <c>str.lower()</c> differs from <see cref="string.ToLowerInvariant"/>, applied
    /// before the tokenizer's lowercase step: "İ" lowercases to "i̇" (two code points), and a capital sigma at the end
    /// of a word becomes the final form "ς".
    /// </summary>
    public static string ApplyPythonLowercaseSpecialCases(string text)
    {
        if (!text.Contains('\u0130') && !text.Contains('\u03A3')) return text;
        var sb = new StringBuilder(text.Length + 4);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\u0130') sb.Append("i\u0307");
            else if (c == '\u03A3') sb.Append(IsFinalSigma(text, i) ? '\u03C2' : '\u03C3');
            else sb.Append(c);
        }
        return sb.ToString();
    }

    // Unicode's Final_Sigma condition: a cased letter before (skipping case-ignorable characters) and none after.
    private static bool IsFinalSigma(string text, int index)
    {
        var j = index - 1;
        while (j >= 0 && IsCaseIgnorable(text[j])) j--;
        if (j < 0 || !IsCased(text[j])) return false;
        var k = index + 1;
        while (k < text.Length && IsCaseIgnorable(text[k])) k++;
        return k >= text.Length || !IsCased(text[k]);
    }

    private static bool IsCased(char c) => char.GetUnicodeCategory(c) is
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter;

    private static bool IsCaseIgnorable(char c) => c is '\'' or '.' or ':' or '\u00B7' or '\u2019' ||
        char.GetUnicodeCategory(c) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark
            or UnicodeCategory.Format or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol;

    private static string MapChars(string text, Dictionary<char, string> map)
    {
        StringBuilder? sb = null;
        for (var i = 0; i < text.Length; i++)
        {
            if (map.TryGetValue(text[i], out var replacement))
            {
                sb ??= new StringBuilder(text.Length).Append(text, 0, i);
                sb.Append(replacement);
            }
            else sb?.Append(text[i]);
        }
        return sb?.ToString() ?? text;
    }
}
