using static TorchSharp.torch;

namespace FineXtract.Extraction.Sampling;

/// <summary>
/// Start latents that depend only on (run seed, image index): image i of a run can be regenerated on its own, by any
/// batch size, on any machine. Each image gets its own CPU generator (libtorch's CPU mt19937 gives the same numbers
/// everywhere); the noise is drawn on the CPU in float32 and only then moved to the compute device.
/// </summary>
public static class SeedLatents
{
    /// <summary>The generator seed of image <paramref name="index"/>: SplitMix64(seed · 2^32 + index), low 32 bits
    /// (libtorch's mt19937 uses 32 bits of its seed).</summary>
    public static ulong ImageSeed(long runSeed, long index)
    {
        ulong z = unchecked(((ulong)runSeed << 32) + (ulong)index + 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return (z ^ (z >> 31)) & 0xFFFFFFFFUL;
    }

    /// <summary>[count, channels, size, size] standard normal latents for images index..index+count−1.</summary>
    public static Tensor ForImages(long runSeed, IReadOnlyList<long> indices, int channels, int height, int width, Device? device = null)
    {
        using var scope = NewDisposeScope();
        var rows = new Tensor[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            using var generator = new Generator(ImageSeed(runSeed, indices[i]), CPU);
            rows[i] = randn([channels, height, width], ScalarType.Float32, CPU, generator: generator);
        }
        var batch = stack(rows);
        if (device is not null && device.type != TorchSharp.DeviceType.CPU) batch = batch.to(device);
        return batch.MoveToOuterDisposeScope();
    }
}
