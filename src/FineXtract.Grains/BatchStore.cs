using System.Runtime.InteropServices;

namespace FineXtract.Grains;

/// <summary>
/// The durable record of finished seed batches: one small file of embeddings per batch under the audit's work folder,
/// named by the batch's first image index. Writing the same batch twice replaces it with identical content, so a batch
/// that ran twice (a retry after a silo died) never yields a duplicate result.
/// </summary>
public sealed class BatchStore(string workFolder)
{
    private string Folder => Path.Combine(workFolder, "batches");

    private string FileOf(long start) => Path.Combine(Folder, $"{start:D9}.f32");

    public void Write(long start, IReadOnlyList<float[]> embeddings) => EmbeddingFile.Write(FileOf(start), embeddings);

    public bool Has(long start) => File.Exists(FileOf(start));

    public float[][] Read(long start) => EmbeddingFile.Read(FileOf(start));
}

/// <summary>A plain little-endian file of n float32 vectors of one dimension: int32 n, int32 d, n·d floats.</summary>
public static class EmbeddingFile
{
    public static void Write(string path, IReadOnlyList<float[]> vectors)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        int d = vectors.Count == 0 ? 0 : vectors[0].Length;
        string tmp = $"{path}.{Guid.NewGuid():N}.tmp";
        using (var stream = File.Create(tmp))
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(vectors.Count);
            writer.Write(d);
            foreach (var v in vectors)
            {
                if (v.Length != d) throw new InvalidDataException("embeddings of different lengths");
                writer.Write(MemoryMarshal.AsBytes(v.AsSpan()));
            }
        }
        File.Move(tmp, path, overwrite: true);
    }

    public static float[][] Read(string path)
    {
        using var stream = File.OpenRead(path);
        using var reader = new BinaryReader(stream);
        int n = reader.ReadInt32(), d = reader.ReadInt32();
        if (n < 0 || d < 0 || (long)n * d * 4 + 8 != stream.Length) throw new InvalidDataException($"{path}: not an embedding file");
        var result = new float[n][];
        for (int i = 0; i < n; i++)
        {
            result[i] = new float[d];
            reader.Read(MemoryMarshal.AsBytes(result[i].AsSpan()));
        }
        return result;
    }
}
