using FineXtract.Extraction.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace FineXtract.Extraction.Descriptors;

/// <summary>Per-channel constants (R, G, B).</summary>
public readonly record struct Rgb(float R, float G, float B)
{
    public float[] ToArray() => [R, G, B];
    public override string ToString() => FormattableString.Invariant($"({R}, {G}, {B})");
}

/// <summary>
/// How an RGB image in [0,1] becomes descriptor input: torchvision <c>Resize(ResizeShortSide)</c> (PIL bilinear with
/// antialiasing; 8-bit like a PIL image when <see cref="Pil8Bit"/>), optional <c>CenterCrop</c>, <c>Normalize(Mean, Std)</c>.
/// </summary>
public sealed record DescriptorPreprocessing(string Name, int ResizeShortSide, int? CenterCrop, Rgb Mean, Rgb Std, bool Pil8Bit = true)
{
    /// <summary>
    /// FineXtract's own (extraction and evaluation, for training and generated images alike):
    /// Resize(256) → CenterCrop(224) → ToTensor → Normalize(0.5, 0.5). The paper's numbers use it; the default.
    /// </summary>
    public static DescriptorPreprocessing FineXtract { get; } =
        new("finextract", 256, 224, new Rgb(0.5f, 0.5f, 0.5f), new Rgb(0.5f, 0.5f, 0.5f));

    /// <summary>SSCD's README: short side 288, no crop, ImageNet mean/std.</summary>
    public static DescriptorPreprocessing Sscd { get; } =
        new("sscd", 288, null, new Rgb(0.485f, 0.456f, 0.406f), new Rgb(0.229f, 0.224f, 0.225f));

    /// <summary>Names accepted by <see cref="Parse"/>.</summary>
    public static IReadOnlyList<string> Names { get; } = ["finextract", "sscd"];

    public static DescriptorPreprocessing Parse(string name) => name.Trim().ToLowerInvariant() switch
    {
        "finextract" => FineXtract,
        "sscd" => Sscd,
        _ => throw new FineXtractException($"unknown preprocessing '{name}' (use {string.Join(" or ", Names)})"),
    };

    /// <summary>Side of the (square) input that a square image gets: the crop, else the resize target.</summary>
    public int NominalSize => CenterCrop ?? ResizeShortSide;

    /// <summary>Applies the transform to one image <c>[3,H,W]</c> in [0,1]; returns a new <c>[3,h,w]</c> float tensor.</summary>
    public Tensor Apply(Tensor image)
    {
        if (image.dim() != 3 || image.shape[0] != 3)
            throw new ArgumentException($"expected an RGB image [3,H,W], got [{string.Join(",", image.shape)}]");
        using var scope = torch.NewDisposeScope();
        var x = ImageTransforms.ResizeShortSide(image, ResizeShortSide, Pil8Bit);
        if (CenterCrop is { } crop) x = ImageTransforms.CenterCrop(x, crop);
        return ImageTransforms.Normalize(x, Mean.ToArray(), Std.ToArray()).MoveToOuterDisposeScope();
    }

    public override string ToString() =>
        $"{Name}: resize short side {ResizeShortSide}{(CenterCrop is { } c ? $", center crop {c}" : ", no crop")}, mean {Mean}, std {Std}";
}
