using TorchSharp;

namespace FineXtract.Checkpoints;

/// <summary>The dtype names of the safetensors format and their element sizes.</summary>
public static class SafeTensorsDType
{
    private static readonly Dictionary<string, (int Bits, torch.ScalarType? Torch)> Known = new()
    {
        ["BOOL"] = (8, torch.ScalarType.Bool),
        ["U8"] = (8, torch.ScalarType.Byte),
        ["I8"] = (8, torch.ScalarType.Int8),
        ["I16"] = (16, torch.ScalarType.Int16),
        ["U16"] = (16, null),
        ["F16"] = (16, torch.ScalarType.Float16),
        ["BF16"] = (16, torch.ScalarType.BFloat16),
        ["I32"] = (32, torch.ScalarType.Int32),
        ["U32"] = (32, null),
        ["F32"] = (32, torch.ScalarType.Float32),
        ["F64"] = (64, torch.ScalarType.Float64),
        ["I64"] = (64, torch.ScalarType.Int64),
        ["U64"] = (64, null),
        ["C64"] = (64, torch.ScalarType.ComplexFloat32),
        ["F8_E5M2"] = (8, null),
        ["F8_E4M3"] = (8, null),
        ["F8_E8M0"] = (8, null),
        ["F8_E4M3FNUZ"] = (8, null),
        ["F8_E5M2FNUZ"] = (8, null),
        ["F6_E2M3"] = (6, null),
        ["F6_E3M2"] = (6, null),
        ["F4"] = (4, null),
    };

    public static bool IsKnown(string dtype) => Known.ContainsKey(dtype);

    /// <summary>Size in bits of one element.</summary>
    public static int Bits(string dtype) => Known[dtype].Bits;

    /// <summary>The TorchSharp dtype a tensor of this kind is loaded as, or null when it has none.</summary>
    public static torch.ScalarType? ToTorch(string dtype) => Known.TryGetValue(dtype, out var k) ? k.Torch : null;

    public static string FromTorch(torch.ScalarType type) => type switch
    {
        torch.ScalarType.Bool => "BOOL",
        torch.ScalarType.Byte => "U8",
        torch.ScalarType.Int8 => "I8",
        torch.ScalarType.Int16 => "I16",
        torch.ScalarType.Float16 => "F16",
        torch.ScalarType.BFloat16 => "BF16",
        torch.ScalarType.Int32 => "I32",
        torch.ScalarType.Float32 => "F32",
        torch.ScalarType.Float64 => "F64",
        torch.ScalarType.Int64 => "I64",
        torch.ScalarType.ComplexFloat32 => "C64",
        _ => throw new ArgumentException($"dtype {type} cannot be stored in safetensors by this writer"),
    };
}
