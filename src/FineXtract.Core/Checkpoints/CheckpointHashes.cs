using System.Buffers;
using System.Security.Cryptography;

namespace FineXtract.Checkpoints;

/// <summary>
/// Computes the identification hashes of <see cref="FileHashes"/> in one streaming pass over the file (model
/// files reach 7 GB, so nothing is read into memory whole).
/// </summary>
public static class CheckpointHashes
{
    private const long LegacyOffset = 0x100000;
    private const int LegacyLength = 0x10000;
    private const int BufferSize = 4 << 20;

    /// <param name="dataOffset">Where the safetensors data section starts (8 + header length), or null for other files (no AutoV3).</param>
    /// <param name="claimedSshsModelHash">kohya's <c>sshs_model_hash</c> from the metadata, to compare with AutoV3.</param>
    public static FileHashes Compute(string path, long? dataOffset = null, string? claimedSshsModelHash = null,
        CancellationToken cancellationToken = default)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        using var whole = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var data = dataOffset is null ? null : IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var legacy = new byte[LegacyLength];
        int legacyBytes = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            long position = 0;
            int n;
            while ((n = stream.Read(buffer, 0, BufferSize)) > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                whole.AppendData(buffer, 0, n);
                long end = position + n;
                if (data is not null && end > dataOffset!.Value)
                {
                    int skip = (int)Math.Max(0, dataOffset.Value - position);
                    data.AppendData(buffer, skip, n - skip);
                }
                long from = Math.Max(position, LegacyOffset), to = Math.Min(end, LegacyOffset + LegacyLength);
                if (to > from)
                {
                    Array.Copy(buffer, from - position, legacy, from - LegacyOffset, to - from);
                    legacyBytes = (int)(to - LegacyOffset);
                }
                position = end;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        string sha = Hex(whole.GetHashAndReset());
        string? autoV3 = data is null ? null : Hex(data.GetHashAndReset());
        // Like A1111: whatever the read at 1 MiB returns (nothing for a file under 1 MiB) is hashed.
        string legacyHash = Hex(SHA256.HashData(legacy.AsSpan(0, legacyBytes)))[..8];
        bool? matches = claimedSshsModelHash is null || autoV3 is null
            ? null
            : string.Equals(claimedSshsModelHash.Trim(), autoV3, StringComparison.OrdinalIgnoreCase);
        return new FileHashes(sha, sha[..10], autoV3, legacyHash, claimedSshsModelHash, matches);
    }

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
}
