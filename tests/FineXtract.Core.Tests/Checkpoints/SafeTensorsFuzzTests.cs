using System.Buffers.Binary;
using System.Text;
using FineXtract.Checkpoints;
using TorchSharp;

namespace FineXtract.Tests.Checkpoints;

/// <summary>
/// Malformed and randomly mutated safetensors files: every one must either open (and then load every tensor)
/// or fail with a <see cref="CheckpointFormatException"/> whose one-line message names the file and the problem.
/// </summary>
public sealed class SafeTensorsFuzzTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fx-fuzz-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    // ---------- helpers ----------

    private string PathOf(string name) => Path.Combine(_dir, name);

    /// <summary>Writes 8-byte length + header + data; <paramref name="declaredLength"/> overrides the length field.</summary>
    private string WriteRaw(string header, byte[]? data = null, ulong? declaredLength = null, string name = "x.safetensors")
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + (data?.Length ?? 0)];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)h.Length);
        h.CopyTo(bytes, 8);
        data?.CopyTo(bytes, 8 + h.Length);
        var path = PathOf(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private string WriteBytes(byte[] bytes, string name = "x.safetensors")
    {
        var path = PathOf(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Opens the file and loads every tensor, as a caller that trusts a successful Open would.</summary>
    private static void OpenAndLoadAll(string path)
    {
        using var f = SafeTensorsFile.Open(path);
        foreach (var name in f.Tensors.Keys)
        {
            using var t = f.Load(name);
            _ = f.ReadBytes(name);
        }
    }

    private static string Refused(string path, params string[] expectedFragments)
    {
        var e = Assert.Throws<CheckpointFormatException>(() => OpenAndLoadAll(path));
        Assert.Contains(path, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        foreach (var fragment in expectedFragments)
            Assert.Contains(fragment, e.Message, StringComparison.OrdinalIgnoreCase);
        return e.Message;
    }

    private static string Entry(string name, string dtype, string shape, long begin, long end) =>
        $"\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":{shape},\"data_offsets\":[{begin},{end}]}}";

    // ---------- length field ----------

    [Fact]
    public void EmptyFile() => Refused(WriteBytes([]), "0 bytes");

    [Fact]
    public void ShorterThanTheLengthField() => Refused(WriteBytes([1, 2, 3, 4, 5]), "5 bytes");

    [Fact]
    public void HeaderLengthPastTheEnd() => Refused(WriteRaw("{}", declaredLength: 1000), "truncated", "1000");

    [Fact]
    public void HeaderLengthZero() => Refused(WriteRaw("{}", declaredLength: 0), "header length 0");

    [Fact]
    public void HeaderLengthOver100MB() => Refused(WriteRaw("{}", declaredLength: 100_000_001), "100000001");

    [Fact]
    public void HeaderLengthMaxUInt64() => Refused(WriteRaw("{}", declaredLength: ulong.MaxValue), "header length");

    // ---------- header JSON ----------

    [Fact]
    public void HeaderThatDoesNotStartWithABrace() => Refused(WriteRaw("hello, world"), "starting with '{'");

    [Fact]
    public void NonJsonHeader() => Refused(WriteRaw("{hello, world}"), "not valid JSON");

    [Fact]
    public void JsonArrayHeader() => Refused(WriteRaw("[1, 2, 3]"), "JSON object");

    [Fact]
    public void JsonStringHeader() => Refused(WriteRaw("\"{}\""), "JSON object");

    [Fact]
    public void HeaderCutInTheMiddleOfTheJson() =>
        Refused(WriteRaw("{" + Entry("a", "F32", "[1]", 0, 4)[..20]), "not valid JSON");

    [Fact]
    public void InvalidUtf8InHeader()
    {
        var path = WriteRaw("{\"a\":1}");
        var bytes = File.ReadAllBytes(path);
        bytes[10] = 0xFF;
        File.WriteAllBytes(path, bytes);
        Refused(path, "UTF-8");
    }

    [Fact]
    public void DeeplyNestedHeaderDoesNotOverflowTheStack() =>
        Refused(WriteRaw(new string('[', 100_000) + new string(']', 100_000)), "JSON");

    [Fact]
    public void EmptyObjectHeaderIsAValidEmptyFile()
    {
        using var f = SafeTensorsFile.Open(WriteRaw("{}"));
        Assert.Empty(f.Tensors);
    }

    [Fact]
    public void SpacePaddedHeaderIsAccepted()
    {
        using var f = SafeTensorsFile.Open(WriteRaw("{" + Entry("a", "F32", "[1]", 0, 4) + "}   ", new byte[4]));
        Assert.Single(f.Tensors);
    }

    // ---------- offsets ----------

    [Fact]
    public void TruncatedRealFixture()
    {
        var source = File.ReadAllBytes(Fixtures.Path_("unet", "diffusion_pytorch_model.safetensors"));
        var path = WriteBytes(source[..(source.Length / 2)]);
        Refused(path, "truncated");
    }

    [Fact]
    public void OffsetsPastTheDataSection() =>
        Refused(WriteRaw("{" + Entry("a", "F32", "[4]", 0, 16) + "}", new byte[8]), "'a'", "past the end");

    [Fact]
    public void EndBeforeBegin() =>
        Refused(WriteRaw("{" + Entry("a", "F32", "[1]", 8, 4) + "}", new byte[8]), "'a'", "data_offsets");

    [Fact]
    public void NegativeOffset() =>
        Refused(WriteRaw("{" + Entry("a", "F32", "[1]", -4, 0) + "}", new byte[8]), "'a'", "data_offsets");

    [Theory]
    [InlineData("[\"0\",\"4\"]")]
    [InlineData("[null,4]")]
    [InlineData("[0]")]
    [InlineData("[0,4,8]")]
    [InlineData("[0.0,4.0]")]
    [InlineData("[0,1e30]")]
    [InlineData("{\"begin\":0}")]
    [InlineData("\"0-4\"")]
    public void MalformedDataOffsets(string offsets) =>
        Refused(WriteRaw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":" + offsets + "}}", new byte[8]),
            "'a'", "data_offsets");

    [Fact]
    public void OverlappingTensors() =>
        Refused(WriteRaw("{" + Entry("a", "F32", "[2]", 0, 8) + "," + Entry("b", "F32", "[2]", 4, 12) + "}", new byte[16]),
            "overlap");

    [Fact]
    public void IdenticalRangesOverlap() =>
        Refused(WriteRaw("{" + Entry("a", "F32", "[1]", 0, 4) + "," + Entry("b", "F32", "[1]", 0, 4) + "}", new byte[4]),
            "overlap");

    // ---------- dtype and shape ----------

    [Theory]
    [InlineData("\"F17\"", "unknown dtype")]
    [InlineData("\"f32\"", "unknown dtype")]
    [InlineData("\"\"", "unknown dtype")]
    [InlineData("32", "dtype")]
    [InlineData("null", "dtype")]
    public void BadDtype(string dtype, string fragment) =>
        Refused(WriteRaw("{\"a\":{\"dtype\":" + dtype + ",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]), "'a'", fragment);

    [Fact]
    public void MissingDtype() =>
        Refused(WriteRaw("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]), "'a'", "dtype");

    [Theory]
    [InlineData("[-1]")]
    [InlineData("[1.5]")]
    [InlineData("[1e30]")]
    [InlineData("[1e2]")]
    [InlineData("[\"4\"]")]
    [InlineData("[null]")]
    [InlineData("[true]")]
    [InlineData("[[1]]")]
    [InlineData("[18446744073709551616]")]
    [InlineData("[-9223372036854775808]")]
    [InlineData("4")]
    [InlineData("null")]
    [InlineData("{\"0\":4}")]
    public void BadShapeValues(string shape) =>
        Refused(WriteRaw("{\"a\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[0,4]}}", new byte[4]), "'a'", "shape");

    [Fact]
    public void NaNShapeIsNotJson() =>
        Refused(WriteRaw("{\"a\":{\"dtype\":\"F32\",\"shape\":[NaN],\"data_offsets\":[0,4]}}", new byte[4]), "JSON");

    [Theory]
    [InlineData("[4294967296,4294967296]")]
    [InlineData("[3037000500,3037000500]")]
    [InlineData("[9223372036854775807,2]")]
    [InlineData("[2305843009213693952]")] // fine as an element count, overflows once multiplied by 32 bits
    public void ShapeWhoseSizeOverflows(string shape) =>
        Refused(WriteRaw("{\"a\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":[0,4]}}", new byte[4]), "'a'", "too large");

    [Fact]
    public void HugeRankIsRefusedBeforeAllocating()
    {
        var dims = string.Join(",", Enumerable.Repeat("1", 1_000_000));
        Refused(WriteRaw("{\"a\":{\"dtype\":\"F32\",\"shape\":[" + dims + "],\"data_offsets\":[0,4]}}", new byte[4]), "'a'", "dimensions");
    }

    [Fact]
    public void ShapeTimesDtypeDiffersFromByteLength() =>
        Refused(WriteRaw("{" + Entry("a", "F32", "[2,3]", 0, 20) + "}", new byte[24]), "'a'", "24", "20");

    [Fact]
    public void SubByteDtypeWithOddElementCount() =>
        Refused(WriteRaw("{" + Entry("a", "F4", "[3]", 0, 2) + "}", new byte[2]), "'a'", "F4");

    [Fact]
    public void UnloadableDtypeOpensButLoadSaysWhy()
    {
        var path = WriteRaw("{" + Entry("a", "U16", "[2]", 0, 4) + "}", new byte[4]);
        using var f = SafeTensorsFile.Open(path);
        var e = Assert.Throws<CheckpointFormatException>(() => f.Load("a"));
        Assert.Contains("U16", e.Message);
    }

    [Fact]
    public void EntryThatIsNotAnObject() => Refused(WriteRaw("{\"a\":[1,2,3]}"), "'a'", "not an object");

    [Fact]
    public void LoneSurrogateInTensorName() =>
        Refused(WriteRaw("{\"a\\ud800\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]), "not valid text");

    [Fact]
    public void ControlCharactersInNamesAreEscapedInTheMessage() =>
        Refused(WriteRaw("{\"a\\nb\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", new byte[4]), "a\\u000ab");

    [Fact]
    public void LoneSurrogateInDtype() =>
        Refused(WriteRaw("{\"a\":{\"dtype\":\"\\udc00\",\"shape\":[1],\"data_offsets\":[0,4]}}", new byte[4]), "not valid text");

    // ---------- names and metadata ----------

    [Fact]
    public void DuplicateTensorNames() =>
        Refused(WriteRaw("{" + Entry("a", "F32", "[1]", 0, 4) + "," + Entry("a", "F32", "[1]", 4, 8) + "}", new byte[8]),
            "'a'", "twice");

    [Fact]
    public void NonStringMetadataValue() =>
        Refused(WriteRaw("{\"__metadata__\":{\"ss_network_dim\":4}}"), "ss_network_dim", "not a string");

    [Fact]
    public void NestedObjectMetadataValue() =>
        Refused(WriteRaw("{\"__metadata__\":{\"ss_tag_frequency\":{\"a\":1}}}"), "ss_tag_frequency", "not a string");

    [Fact]
    public void MetadataThatIsNotAnObject() => Refused(WriteRaw("{\"__metadata__\":[\"a\"]}"), "__metadata__");

    [Fact]
    public void DuplicateMetadataKey() =>
        Refused(WriteRaw("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}"), "'k'", "twice");

    [Fact]
    public void DuplicateMetadataBlock() =>
        Refused(WriteRaw("{\"__metadata__\":{\"k\":\"a\"},\"__metadata__\":{\"k\":\"b\"}}"), "__metadata__", "twice");

    [Fact]
    public void NullMetadataMeansNone()
    {
        using var f = SafeTensorsFile.Open(WriteRaw("{\"__metadata__\":null}"));
        Assert.Empty(f.Metadata);
    }

    // ---------- pickle refusal and its false positives ----------

    [Fact]
    public void ZipMagicIsRefusedAsPickle()
    {
        var bytes = new byte[64];
        "PK\u0003\u0004"u8.CopyTo(bytes);
        var message = Refused(WriteBytes(bytes, "model.safetensors"), "pickle", "arbitrary code", "convert", "safetensors");
        Assert.Contains("weights_only", message);
    }

    [Fact]
    public void CkptExtensionIsRefusedAsPickle() =>
        Refused(WriteRaw("{}", name: "model.ckpt"), "pickle", "execute arbitrary code", "convert");

    [Fact]
    public void LegacyPickleMagicIsRefused() =>
        Refused(WriteBytes([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8], "model.safetensors"), "pickle");

    /// <summary>
    /// A header length whose low byte is 0x80 (384, 640, …) or whose low bytes spell "PK" (0x4B50 = 19280) must
    /// not be mistaken for a pickle: the writer pads headers to multiples of 8, so these lengths are common.
    /// </summary>
    [Theory]
    [InlineData(0x180)]
    [InlineData(0x280)]
    [InlineData(0x4B50)]
    [InlineData(0x04034B50)]
    public void SafeTensorsWhoseLengthBytesLookLikeAPickleMagic(int headerLength)
    {
        var header = "{" + Entry("a", "F32", "[1]", 0, 4) + "}";
        var path = WriteRaw(header.PadRight(headerLength), new byte[] { 0, 0, 128, 63 });
        using var f = SafeTensorsFile.Open(path);
        using var t = f.Load("a");
        Assert.Equal(1.0f, t.item<float>());
    }

    // ---------- randomized mutations ----------

    private static byte[] SmallValidFile(string dir)
    {
        var path = Path.Combine(dir, "seed.safetensors");
        using (var a = torch.arange(12, dtype: torch.ScalarType.Float32).reshape(3, 4))
        using (var h = torch.linspace(-1, 1, 5).to_type(torch.ScalarType.Float16))
        using (var i = torch.tensor(new long[] { 999, 10 }))
        using (var s = torch.tensor(2.0f))
        using (var b = torch.tensor(new[] { true, false, true }))
        using (var e = torch.empty(0, 3))
        {
            SafeTensorsWriter.Write(path,
                new Dictionary<string, torch.Tensor> { ["w.weight"] = a, ["h"] = h, ["ids"] = i, ["x.alpha"] = s, ["mask"] = b, ["empty"] = e },
                new Dictionary<string, string> { ["ss_network_dim"] = "4", ["ss_tag_frequency"] = "{\"10_sks dog\": {\"dog\": 1}}" });
        }
        return File.ReadAllBytes(path);
    }

    [Fact]
    public async Task RandomMutationsEitherLoadOrFailCleanly()
    {
        var original = SmallValidFile(_dir);
        int headerEnd = 8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(original);
        const string interesting = "{}[]\",:-0123456789.eE \\";
        var outcomes = new Dictionary<string, int> { ["opened"] = 0, ["refused"] = 0 };
        var failures = new List<string>();

        var work = Task.Run(() =>
        {
            for (int iteration = 0; iteration < 500; iteration++)
            {
                var rng = new Random(20250 + iteration);
                var bytes = (byte[])original.Clone();
                string what;
                switch (rng.Next(6))
                {
                    case 0: // truncate anywhere
                        int cut = rng.Next(bytes.Length);
                        bytes = bytes[..cut];
                        what = $"truncate to {cut}";
                        break;
                    case 1: // flip bits in the header
                        int p = rng.Next(headerEnd);
                        bytes[p] ^= (byte)(1 << rng.Next(8));
                        what = $"flip bit in header byte {p}";
                        break;
                    case 2: // replace a header byte by a JSON-significant character
                        int q = 8 + rng.Next(headerEnd - 8);
                        bytes[q] = (byte)interesting[rng.Next(interesting.Length)];
                        what = $"set header byte {q} to '{(char)bytes[q]}'";
                        break;
                    case 3: // random bytes anywhere (length field, header, data)
                        int n = 1 + rng.Next(4);
                        what = "random bytes at";
                        for (int k = 0; k < n; k++)
                        {
                            int r = rng.Next(bytes.Length);
                            bytes[r] = (byte)rng.Next(256);
                            what += $" {r}";
                        }
                        break;
                    case 4: // perturb the header length field by a little
                        long len = headerEnd - 8 + rng.Next(-16, 17);
                        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)len);
                        what = $"header length {len}";
                        break;
                    default: // delete or duplicate a span in the header (shifts everything after it)
                        int at = 8 + rng.Next(headerEnd - 8);
                        int span = 1 + rng.Next(Math.Min(8, headerEnd - at));
                        var list = bytes.ToList();
                        if (rng.Next(2) == 0) { list.RemoveRange(at, span); what = $"delete {span} at {at}"; }
                        else { list.InsertRange(at, bytes.Skip(at).Take(span)); what = $"duplicate {span} at {at}"; }
                        bytes = list.ToArray();
                        break;
                }

                var path = Path.Combine(_dir, $"m{iteration}.safetensors");
                File.WriteAllBytes(path, bytes);
                try
                {
                    OpenAndLoadAll(path);
                    outcomes["opened"]++;
                }
                catch (CheckpointFormatException e)
                {
                    outcomes["refused"]++;
                    if (!e.Message.Contains(path) || e.Message.Contains('\n'))
                        failures.Add($"#{iteration} ({what}): badly formed message: {e.Message}");
                }
                catch (Exception e)
                {
                    failures.Add($"#{iteration} ({what}): {e.GetType().Name}: {e.Message}");
                }
                finally
                {
                    File.Delete(path);
                }
            }
        });

        var first = await Task.WhenAny(work, Task.Delay(TimeSpan.FromMinutes(2)));
        Assert.True(first == work, "the mutation loop hung");
        await work;
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
        Assert.True(outcomes["refused"] > 100, $"suspiciously few refusals: {outcomes["refused"]}");
        Assert.True(outcomes["opened"] > 10, $"suspiciously few successful opens: {outcomes["opened"]}");
    }
}
