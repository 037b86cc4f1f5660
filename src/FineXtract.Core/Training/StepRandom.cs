using TorchSharp;

namespace FineXtract.Training;

/// <summary>
/// Randomness of a training step as a pure function of (seed, step, stream): noise, timesteps, caption dropout and
/// augmentation of step <c>n</c> are the same whether the run started at 0 or resumed from a checkpoint, so a
/// resumed run continues exactly (no RNG state has to be saved).
/// </summary>
public static class StepRandom
{
    /// <summary>Streams of one step, so that different uses never share numbers.</summary>
    public enum Stream : long { Noise = 1, Data = 2, Augment = 3, Dropout = 4, Order = 5, Init = 6 }

    /// <summary>SplitMix64 finaliser over the three values.</summary>
    public static ulong Mix(long seed, long step, long stream)
    {
        ulong z = unchecked((ulong)seed * 0x9E3779B97F4A7C15UL);
        z = Finalise(z ^ unchecked((ulong)step + 0x632BE59BD9B4E019UL));
        z = Finalise(z ^ unchecked((ulong)stream * 0xD1B54A32D192ED03UL + 0x8CB92BA72F3D8DD7UL));
        return z;
    }

    private static ulong Finalise(ulong z)
    {
        unchecked
        {
            z += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
    }

    /// <summary>A .NET RNG for (seed, step, stream[, item]).</summary>
    public static Random Random(long seed, long step, Stream stream, long item = 0) =>
        new((int)(Mix(seed, step, (long)stream * 1_000_003 + item) & 0x7FFFFFFF));

    /// <summary>A libtorch CPU generator for (seed, step, stream); the caller disposes it.</summary>
    public static torch.Generator Generator(long seed, long step, Stream stream) =>
        new(Mix(seed, step, (long)stream) & 0x7FFF_FFFF_FFFF_FFFFUL, torch.CPU);
}
