namespace FineXtract.Extraction.Descriptors;

/// <summary>Creates a descriptor from a command-line style value: a TorchScript file, or <c>builtin</c>.</summary>
public static class DescriptorFactory
{
    public const string Builtin = "builtin";

    /// <summary>
    /// <paramref name="fileOrBuiltin"/> = <c>builtin</c> (any case) → <see cref="BuiltinDescriptor"/> (not SSCD);
    /// otherwise a TorchScript file → <see cref="SscdDescriptor"/>. Preprocessing defaults to FineXtract's.
    /// </summary>
    public static IImageDescriptor Create(string fileOrBuiltin, DescriptorPreprocessing? preprocessing = null, int? batchSize = null)
    {
        if (string.IsNullOrWhiteSpace(fileOrBuiltin))
            throw new FineXtractException("descriptor: give a TorchScript file (e.g. sscd_disc_large.torchscript.pt) or 'builtin'");
        preprocessing ??= DescriptorPreprocessing.FineXtract;
        if (string.Equals(fileOrBuiltin.Trim(), Builtin, StringComparison.OrdinalIgnoreCase) && !File.Exists(fileOrBuiltin))
            return new BuiltinDescriptor(preprocessing, batchSize ?? 64);
        return SscdDescriptor.Load(fileOrBuiltin, preprocessing, batchSize ?? 16);
    }
}
