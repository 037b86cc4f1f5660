using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Text;
using System.Text.Json;
using TorchSharp;

namespace FineXtract.Checkpoints;

/// <summary>Name, dtype, shape and byte range (relative to the data section) of one stored tensor.</summary>
public sealed record SafeTensorInfo(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
    public long ByteLength => End - Begin;
}

/// <summary>
/// A validated, memory-mapped safetensors file. The header is checked completely on open (length bounds,
/// JSON shape, dtypes, offsets inside the file and non-overlapping, shape × dtype size = byte length), so a
/// malformed file fails fast with a message that names the problem; tensors are then read lazily, one by one.
/// Every problem with the file's content surfaces as a <see cref="CheckpointFormatException"/>.
/// </summary>
public sealed class SafeTensorsFile : IDisposable
{
    /// <summary>Same bound as the reference implementation: headers over 100 MB are refused.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>More dimensions than any model uses; checked before the shape array is allocated.</summary>
    public const int MaxRank = 16;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly long _dataStart;

    public string Path { get; }
    public long FileLength { get; }
    public long HeaderLength { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IReadOnlyDictionary<string, SafeTensorInfo> Tensors { get; }

    private SafeTensorsFile(string path, long fileLength, long headerLength, MemoryMappedFile? map,
        MemoryMappedViewAccessor? view, IReadOnlyDictionary<string, string> metadata,
        IReadOnlyDictionary<string, SafeTensorInfo> tensors)
    {
        Path = path;
        FileLength = fileLength;
        HeaderLength = headerLength;
        _map = map;
        _view = view;
        _dataStart = 8 + headerLength;
        Metadata = metadata;
        Tensors = tensors;
    }

    public static SafeTensorsFile Open(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new CheckpointFormatException(Directory.Exists(path)
                ? $"{path}: is a directory, expected a .safetensors file"
                : $"{path}: file not found");
        PickleGuard.ThrowIfPickle(path);
        long length = info.Length;
        if (length < 8)
            throw new CheckpointFormatException($"{path}: not a safetensors file ({length} bytes, the 8-byte header length is missing)");

        byte[] header;
        long headerLength;
        using (var stream = File.OpenRead(path))
        {
            Span<byte> lengthBytes = stackalloc byte[8];
            stream.ReadExactly(lengthBytes);
            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
            if (n == 0 || n > MaxHeaderBytes)
                throw new CheckpointFormatException($"{path}: not a safetensors file, or a corrupted one: header length {n} is outside 1..{MaxHeaderBytes}");
            if ((long)n > length - 8)
                throw new CheckpointFormatException($"{path}: truncated safetensors file: header length {n} runs past the end of the {length}-byte file");
            headerLength = (long)n;
            header = new byte[headerLength];
            stream.ReadExactly(header);
        }

        long dataLength = length - 8 - headerLength;
        var (metadata, tensors) = ParseHeader(path, header, dataLength);

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        if (length > 8 + headerLength)
        {
            try
            {
                map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
                view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            }
            catch (Exception e) when (e is ArgumentException or IOException)
            {
                view?.Dispose();
                map?.Dispose();
                // The length we validated against no longer holds (the file shrank while we were reading it).
                throw new CheckpointFormatException($"{path}: the file changed while it was being opened ({e.Message})", e);
            }
        }
        return new SafeTensorsFile(path, length, headerLength, map, view, metadata, tensors);
    }

    private static (Dictionary<string, string>, Dictionary<string, SafeTensorInfo>) ParseHeader(
        string path, byte[] header, long dataLength)
    {
        // Like the reference reader: the header is UTF-8 (checked as a whole: System.Text.Json only checks the
        // bytes of a string when it is read) and starts with '{' (it may be padded with trailing spaces).
        try
        {
            StrictUtf8.GetCharCount(header);
        }
        catch (DecoderFallbackException)
        {
            throw new CheckpointFormatException($"{path}: safetensors header is not valid UTF-8 (corrupted file?)");
        }
        if (header[0] != (byte)'{')
            throw new CheckpointFormatException($"{path}: safetensors header must be a JSON object starting with '{{' (not a safetensors file?)");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException($"{path}: safetensors header is not valid JSON ({OneLine(e.Message)})");
        }
        using (doc)
        {
            try
            {
                return ParseHeaderObject(path, doc.RootElement, dataLength);
            }
            catch (InvalidOperationException e)
            {
                // Valid JSON that System.Text.Json cannot turn into .NET strings, e.g. an escaped lone surrogate "\ud800".
                throw new CheckpointFormatException($"{path}: safetensors header holds a name or string that is not valid text ({OneLine(e.Message)})");
            }
        }
    }

    private static (Dictionary<string, string>, Dictionary<string, SafeTensorInfo>) ParseHeaderObject(
        string path, JsonElement root, long dataLength)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new CheckpointFormatException($"{path}: safetensors header must be a JSON object");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var tensors = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
        bool sawMetadata = false;
        foreach (var prop in root.EnumerateObject())
        {
            if (prop.Name == "__metadata__")
            {
                // Duplicates are refused rather than resolved: two readers that pick different copies would
                // show an auditor different metadata for the same file.
                if (sawMetadata)
                    throw new CheckpointFormatException($"{path}: __metadata__ appears twice in the header");
                sawMetadata = true;
                if (prop.Value.ValueKind == JsonValueKind.Null) continue; // the reference reads null as "no metadata"
                if (prop.Value.ValueKind != JsonValueKind.Object)
                    throw new CheckpointFormatException($"{path}: __metadata__ must be an object of strings");
                foreach (var m in prop.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String)
                        throw new CheckpointFormatException($"{path}: __metadata__ value '{Shown(m.Name)}' is not a string");
                    if (!metadata.TryAdd(m.Name, m.Value.GetString()!))
                        throw new CheckpointFormatException($"{path}: __metadata__ key '{Shown(m.Name)}' appears twice");
                }
                continue;
            }
            if (!tensors.TryAdd(prop.Name, ParseTensor(path, prop, dataLength)))
                throw new CheckpointFormatException($"{path}: tensor '{Shown(prop.Name)}' appears twice in the header");
        }

        var ordered = tensors.Values.Where(t => t.ByteLength > 0).OrderBy(t => t.Begin).ToList();
        for (int i = 1; i < ordered.Count; i++)
        {
            if (ordered[i].Begin < ordered[i - 1].End)
                throw new CheckpointFormatException(
                    $"{path}: tensors '{Shown(ordered[i - 1].Name)}' and '{Shown(ordered[i].Name)}' overlap in the data section");
        }
        return (metadata, tensors);
    }

    private static SafeTensorInfo ParseTensor(string path, JsonProperty prop, long dataLength)
    {
        string where = $"{path}: tensor '{Shown(prop.Name)}'";
        var e = prop.Value;
        if (e.ValueKind != JsonValueKind.Object)
            throw new CheckpointFormatException($"{where}: header entry is not an object");
        if (!e.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String)
            throw new CheckpointFormatException($"{where}: dtype must be a string, got {Excerpt(dtypeEl)}");
        string dtype = dtypeEl.GetString()!;
        if (!SafeTensorsDType.IsKnown(dtype))
            throw new CheckpointFormatException($"{where}: unknown dtype '{Shown(dtype)}'");
        if (!e.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array)
            throw new CheckpointFormatException($"{where}: shape must be an array of integers, got {Excerpt(shapeEl)}");
        int rank = shapeEl.GetArrayLength();
        if (rank > MaxRank)
            throw new CheckpointFormatException($"{where}: {rank} dimensions is more than any model uses (at most {MaxRank})");
        var shape = new long[rank];
        long elements = 1;
        int k = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0)
                throw new CheckpointFormatException($"{where}: shape must hold non-negative integers, got {Excerpt(shapeEl)}");
            shape[k++] = dim;
            try { elements = checked(elements * dim); }
            catch (OverflowException) { throw new CheckpointFormatException($"{where}: shape {Excerpt(shapeEl)} is too large"); }
        }
        if (!e.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw new CheckpointFormatException($"{where}: data_offsets must be [begin, end], got {Excerpt(offEl)}");
        // TryGetInt64 throws (rather than returning false) on a non-number, so check the kind first.
        if (offEl[0].ValueKind != JsonValueKind.Number || offEl[1].ValueKind != JsonValueKind.Number
            || !offEl[0].TryGetInt64(out long begin) || !offEl[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new CheckpointFormatException($"{where}: invalid data_offsets {Excerpt(offEl)} (need integers 0 <= begin <= end)");
        if (end > dataLength)
            throw new CheckpointFormatException(
                $"{where}: data_offsets {Excerpt(offEl)} run past the end of the data section ({dataLength} bytes; truncated file?)");
        long bits;
        try { bits = checked(elements * SafeTensorsDType.Bits(dtype)); }
        catch (OverflowException) { throw new CheckpointFormatException($"{where}: shape {Excerpt(shapeEl)} is too large"); }
        if (bits % 8 != 0 || bits / 8 != end - begin)
            throw new CheckpointFormatException(
                $"{where}: {dtype} {Excerpt(shapeEl)} needs {bits / 8.0} bytes but data_offsets give {end - begin}");
        return new SafeTensorInfo(prop.Name, dtype, shape, begin, end);
    }

    private static string Excerpt(JsonElement e)
    {
        if (e.ValueKind == JsonValueKind.Undefined) return "nothing";
        var raw = OneLine(e.GetRawText());
        return raw.Length <= 80 ? raw : raw[..80] + "…";
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ");

    /// <summary>A name as shown in a one-line message: control characters escaped, at most 120 characters.</summary>
    internal static string Shown(string name)
    {
        var sb = new StringBuilder(Math.Min(name.Length, 121));
        foreach (char c in name)
        {
            if (sb.Length >= 120) { sb.Append('…'); break; }
            if (char.IsControl(c)) sb.Append($"\\u{(int)c:x4}");
            else sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>Raw little-endian bytes of one tensor (a copy).</summary>
    public byte[] ReadBytes(string name)
    {
        var t = Info(name);
        ThrowIfOver2GiB(t);
        var bytes = new byte[t.ByteLength];
        if (bytes.Length > 0)
            _view!.ReadArray(_dataStart + t.Begin, bytes, 0, bytes.Length);
        return bytes;
    }

    public SafeTensorInfo Info(string name) =>
        Tensors.TryGetValue(name, out var t) ? t : throw new CheckpointFormatException($"{Path}: no tensor named '{Shown(name)}'");

    /// <summary>
    /// Loads one tensor on the CPU. Floating-point tensors (F16, BF16, F32, F64, FP8) are converted to
    /// <paramref name="floatType"/> when given; integer tensors keep their type.
    /// </summary>
    public torch.Tensor Load(string name, torch.ScalarType? floatType = null)
    {
        var t = Info(name);
        torch.Tensor result;
        if (Fp8.IsFp8(t.DType))
        {
            result = Fp8.Decode(t.DType, ReadSpan(t), t.Shape);
        }
        else
        {
            var stored = SafeTensorsDType.ToTorch(t.DType)
                ?? throw new CheckpointFormatException($"{Path}: tensor '{Shown(name)}' has dtype {t.DType}, which cannot be loaded");
            result = torch.empty(t.Shape, stored);
            if (t.ByteLength > 0)
                ReadSpan(t).CopyTo(result.bytes);
        }
        if (floatType is { } ft && result.is_floating_point() && result.dtype != ft)
        {
            var converted = result.to_type(ft);
            result.Dispose();
            result = converted;
        }
        return result;
    }

    private void ThrowIfOver2GiB(SafeTensorInfo t)
    {
        if (t.ByteLength > Array.MaxLength)
            throw new CheckpointFormatException($"{Path}: tensor '{Shown(t.Name)}' is {t.ByteLength} bytes; tensors over 2 GiB are not supported");
    }

    private unsafe ReadOnlySpan<byte> ReadSpan(SafeTensorInfo t)
    {
        if (t.ByteLength == 0) return ReadOnlySpan<byte>.Empty;
        ThrowIfOver2GiB(t);
        byte* basePtr = null;
        _view!.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
        try
        {
            // The view stays mapped for the lifetime of this object; the span is used before Dispose.
            return new ReadOnlySpan<byte>(basePtr + _view.PointerOffset + _dataStart + t.Begin, checked((int)t.ByteLength));
        }
        finally
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    /// <summary>Loads every tensor (optionally only those whose name passes <paramref name="filter"/>).</summary>
    public Dictionary<string, torch.Tensor> LoadAll(torch.ScalarType? floatType = null, Func<string, bool>? filter = null)
    {
        var result = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        foreach (var name in Tensors.Keys)
        {
            if (filter is null || filter(name))
                result[name] = Load(name, floatType);
        }
        return result;
    }

    public void Dispose()
    {
        _view?.Dispose();
        _map?.Dispose();
    }
}
