using FineXtract.Extraction.Imaging;
using TorchSharp;
using static TorchSharp.torch;

namespace FineXtract.Extraction.Descriptors;

/// <summary>
/// Shared plumbing: preprocessing, batching (consecutive images of equal preprocessed size share a batch),
/// inference mode, a lock around the model and defensive L2 normalisation of the outputs.
/// </summary>
public abstract class ImageDescriptorBase : IImageDescriptor
{
    private readonly object _gate = new();
    private bool _disposed;

    protected ImageDescriptorBase(DescriptorPreprocessing preprocessing, int batchSize)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), "batch size must be positive");
        Preprocessing = preprocessing;
        BatchSize = batchSize;
    }

    public abstract string Name { get; }
    public abstract bool IsSscd { get; }
    public abstract int Dimension { get; }
    public DescriptorPreprocessing Preprocessing { get; }

    /// <summary>Most images per forward pass.</summary>
    public int BatchSize { get; }

    /// <summary>The model itself on a preprocessed float32 batch <c>[N,3,h,w]</c>: raw outputs <c>[N,D]</c>.</summary>
    protected abstract Tensor Forward(Tensor batch);

    public Tensor EmbedPreprocessed(Tensor batch)
    {
        if (batch.dim() != 4 || batch.shape[1] != 3 || batch.shape[0] == 0)
            throw new ArgumentException($"{Name}: expected a batch [N,3,H,W] with N > 0, got [{string.Join(",", batch.shape)}]");
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var mode = torch.inference_mode();
            using var scope = torch.NewDisposeScope();
            var output = Forward(batch.to_type(ScalarType.Float32));
            if (output.dim() != 2 || output.shape[0] != batch.shape[0])
                throw new FineXtractException($"{Name}: the model returned shape [{string.Join(",", output.shape)}] for a batch of {batch.shape[0]}; expected [N,D]");
            return L2Normalize(output.to_type(ScalarType.Float32).cpu()).MoveToOuterDisposeScope();
        }
    }

    public float[][] Embed(IReadOnlyList<Tensor> images)
    {
        var result = new float[images.Count][];
        using var mode = torch.inference_mode();
        for (int begin = 0; begin < images.Count; begin += BatchSize)
        {
            using var scope = torch.NewDisposeScope();
            int end = Math.Min(begin + BatchSize, images.Count);
            var prepared = new List<Tensor>(end - begin);
            for (int i = begin; i < end; i++) prepared.Add(Preprocessing.Apply(images[i]));
            // Consecutive runs of equal size form one batch (sizes differ only without a centre crop).
            for (int run = 0; run < prepared.Count;)
            {
                int stop = run + 1;
                while (stop < prepared.Count && prepared[stop].shape.SequenceEqual(prepared[run].shape)) stop++;
                var embedded = EmbedPreprocessed(torch.stack(prepared.GetRange(run, stop - run)));
                var values = embedded.data<float>().ToArray();
                int d = (int)embedded.shape[1];
                for (int i = run; i < stop; i++) result[begin + i] = values.AsSpan((i - run) * d, d).ToArray();
                run = stop;
            }
        }
        return result;
    }

    /// <summary>F.normalize(x, dim=1): rows divided by max(‖row‖, 1e-12).</summary>
    internal static Tensor L2Normalize(Tensor x) => x / x.norm(1, keepdim: true).clamp_min(1e-12);

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            DisposeModel();
        }
        GC.SuppressFinalize(this);
    }

    protected virtual void DisposeModel() { }
}

/// <summary>Helpers on any descriptor.</summary>
public static class ImageDescriptorExtensions
{
    /// <summary>
    /// Loads and embeds image files a batch at a time (only one batch of decoded images in memory);
    /// <paramref name="progress"/> gets the number of files done after each batch.
    /// </summary>
    public static float[][] EmbedFiles(this IImageDescriptor descriptor, IReadOnlyList<string> files, int batchSize = 32,
        Action<int>? progress = null)
    {
        var result = new float[files.Count][];
        for (int begin = 0; begin < files.Count; begin += batchSize)
        {
            using var scope = torch.NewDisposeScope();
            var images = new List<Tensor>();
            for (int i = begin; i < Math.Min(begin + batchSize, files.Count); i++) images.Add(ImageIO.Load(files[i]));
            var rows = descriptor.Embed(images);
            rows.CopyTo(result, begin);
            progress?.Invoke(begin + rows.Length);
        }
        return result;
    }

    /// <summary>Cosine similarity of two unit-norm embeddings (their dot product).</summary>
    public static double Similarity(float[] a, float[] b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"embedding lengths differ: {a.Length} vs {b.Length}");
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (double)a[i] * b[i];
        return s;
    }
}
