using System.Text;
using FineXtract.Diffusion.Tokenization;

namespace FineXtract.Tests.Tokenization;

public class TextFixerTests
{
    private static readonly Encoding Windows1252 = CodePagesEncodingProvider.Instance.GetEncoding(1252)!;

    // What a program that reads UTF-8 as Windows-1252 shows (bytes undefined in 1252 come out as C1 controls).
    private static string Mojibake(string text) =>
        string.Concat(Encoding.UTF8.GetBytes(text).Select(b =>
        {
            var c = Windows1252.GetString([b]);
            return c == "\uFFFD" ? ((char)b).ToString() : c;
        }));

    [Theory]
    [InlineData("café")]
    [InlineData("crème brûlée à la carte")]
    [InlineData("Ýmir Ólafsson")]
    [InlineData("Čeština, Łódź, ąę")]
    [InlineData("Привет мир")]
    [InlineData("Ελληνικά")]
    [InlineData("日本語のプロンプト")]
    [InlineData("party 😀🎉")]
    [InlineData("it’s a “quote” — really…")]
    [InlineData("בהודעה")]
    public void RepairsUtf8ReadAsWindows1252(string original)
    {
        var expected = TextFixer.FixText(original);
        Assert.Equal(expected, TextFixer.FixText(Mojibake(original)));
        Assert.Equal(expected, TextFixer.FixText(Mojibake(Mojibake(original))));
    }

    [Theory]
    [InlineData("CAFÉ…")]
    [InlineData("JOSÉ's café")]
    [InlineData("Offering 5×£35 pin ups")]
    [InlineData("a radius of 10 Å—")]
    [InlineData("AHÅ™, the new sofa")]
    [InlineData("naïve façade résumé Ångström")]
    [InlineData("Zürich straße")]
    [InlineData("¿Qué? ¡Sí!")]
    [InlineData("SELKÄ\u00A0EDELLÄ MAAHAN")]
    [InlineData("Charlotte Brontë…")]
    [InlineData("ESSE CARA AI QUEM É¿")]
    [InlineData("zero\u200Bwidth, family 👨\u200D👩\u200D👧, flag 🇯🇵")]
    public void LeavesLegitimateTextAlone(string text) => Assert.Equal(text, TextFixer.FixText(text));

    [Theory]
    [InlineData("ﬁne ligature ﬂow ﬀ ﬃ ﬄ", "fine ligature flow ff ffi ffl")]
    [InlineData("ＬＯＵＤ　ＮＯＩＳＥＳ １２３", "LOUD NOISES 123")]
    [InlineData("It’s a “quoted” ‘test’ ‚low‛", "It's a \"quoted\" 'test' 'low'")]
    [InlineData("&amp; &lt;html&gt; &eacute; &#x2019; &#233;", "& <html> é ' é")]
    [InlineData("this&not that", "this&not that")]
    [InlineData("\u0093quoted\u0094 \u0080", "\"quoted\" €")]
    [InlineData("a\u0000b\u0007c\uFEFFd\u007Fe", "abcde")]
    [InlineData("cafe\u0301", "café")]
    [InlineData("a\r\nb\rc\u2028d", "a\nb\nc\nd")]
    [InlineData("\u001B[36;44mblue\u001B[0m", "blue")]
    [InlineData("&amp;amp;", "&")]
    public void AppliesFtfyStyleFixes(string input, string expected) => Assert.Equal(expected, TextFixer.FixText(input));

    [Fact]
    public void ReplacesLoneSurrogatesOnly()
    {
        // Built at run time: attribute arguments cannot carry unpaired surrogates.
        var lone = "lone " + '\uD800' + " high, " + '\uDC00' + " low, paired \uD83D\uDE00";
        Assert.Equal("lone \uFFFD high, \uFFFD low, paired \uD83D\uDE00", TextFixer.FixText(lone));
    }

    [Fact]
    public void LiteralLessThanTurnsOffEntityDecoding()
    {
        // ftfy treats text with '<' as HTML and keeps its entities; CLIP's own double unescape still decodes them.
        Assert.Equal("<b>&amp;</b>", TextFixer.FixText("<b>&amp;</b>"));
        Assert.Equal("<b>&</b>", TextFixer.CleanForClip("<b>&amp;</b>"));
    }

    [Theory]
    [InlineData("   leading and trailing   ", "leading and trailing")]
    [InlineData("tab\tseparated\nnew line\r\n\u00A0x\u3000y\u2003z", "tab separated new line x y z")]
    [InlineData("&amp;lt;", "<")]
    [InlineData("", "")]
    public void CleansLikeClip(string input, string expected) => Assert.Equal(expected, TextFixer.CleanForClip(input));

    [Theory]
    [InlineData("ΟΔΟΣ", "ΟΔΟς")]
    [InlineData("ΣΟΦΟΣ ΣΟΦΟΣ.", "σΟΦΟς σΟΦΟς.")]
    [InlineData("Σ", "σ")]
    [InlineData("İstanbul", "i\u0307stanbul")]
    [InlineData("plain", "plain")]
    public void PythonLowercaseSpecialCases(string input, string expected) =>
        Assert.Equal(expected, TextFixer.ApplyPythonLowercaseSpecialCases(input));
}
