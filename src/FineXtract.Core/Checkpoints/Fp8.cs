using TorchSharp;

namespace FineXtract.Checkpoints;

/// <summary>
/// Decodes 8-bit float tensors (F8_E4M3 "fn" and F8_E5M2), which newer civitai files use and TorchSharp has
/// no dtype for, into float32 through a 256-entry lookup table.
/// </summary>
internal static class Fp8
{
    private static readonly float[] E4M3 = BuildTable(exponentBits: 4, mantissaBits: 3, bias: 7, finiteOnly: true);
    private static readonly float[] E5M2 = BuildTable(exponentBits: 5, mantissaBits: 2, bias: 15, finiteOnly: false);

    public static bool IsFp8(string dtype) => dtype is "F8_E4M3" or "F8_E5M2";

    public static torch.Tensor Decode(string dtype, ReadOnlySpan<byte> bytes, long[] shape)
    {
        var table = dtype == "F8_E4M3" ? E4M3 : E5M2;
        var values = new float[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) values[i] = table[bytes[i]];
        return torch.tensor(values, shape, torch.ScalarType.Float32);
    }

    private static float[] BuildTable(int exponentBits, int mantissaBits, int bias, bool finiteOnly)
    {
        var table = new float[256];
        int expMask = (1 << exponentBits) - 1, manMask = (1 << mantissaBits) - 1;
        for (int b = 0; b < 256; b++)
        {
            int sign = b >> 7, exp = (b >> mantissaBits) & expMask, man = b & manMask;
            double v;
            if (finiteOnly && exp == expMask && man == manMask) v = double.NaN;          // E4M3fn: only S.1111.111 is NaN
            else if (!finiteOnly && exp == expMask) v = man == 0 ? double.PositiveInfinity : double.NaN;
            else if (exp == 0) v = man / (double)(1 << mantissaBits) * Math.Pow(2, 1 - bias);
            else v = (1 + man / (double)(1 << mantissaBits)) * Math.Pow(2, exp - bias);
            table[b] = (float)(sign == 1 ? -v : v);
        }
        return table;
    }
}
