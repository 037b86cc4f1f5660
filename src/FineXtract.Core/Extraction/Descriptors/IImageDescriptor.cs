using static TorchSharp.torch;

namespace FineXtract.Extraction.Descriptors;

/// <summary>
/// An image copy-detection descriptor: images → L2-normalised vectors whose dot product is the similarity
/// (FineXtract uses SSCD). Implementations serialise their own calls and are safe to share between threads.
/// </summary>
public interface IImageDescriptor : IDisposable
{
    /// <summary>Human-readable name, written into outputs and reports (says clearly when it is not SSCD).</summary>
    string Name { get; }

    /// <summary>True when the scores are SSCD scores (a user-supplied SSCD TorchScript model).</summary>
    bool IsSscd { get; }

    /// <summary>Length of one embedding.</summary>
    int Dimension { get; }

    /// <summary>How raw images are prepared before <see cref="EmbedPreprocessed"/>.</summary>
    DescriptorPreprocessing Preprocessing { get; }

    /// <summary>Embeds raw RGB images <c>[3,H,W]</c> in [0,1] (any sizes): preprocessing, batching, one unit-norm row per image.</summary>
    float[][] Embed(IReadOnlyList<Tensor> images);

    /// <summary>
    /// Embeds an already preprocessed batch <c>[N,3,h,w]</c> (normalised as <see cref="Preprocessing"/> says); returns a new
    /// float32 CPU tensor <c>[N,Dimension]</c> with unit-norm rows.
    /// </summary>
    Tensor EmbedPreprocessed(Tensor batch);
}
