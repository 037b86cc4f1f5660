using System.IO.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace FineXtract.Extraction.Descriptors;

/// <summary>
/// SSCD (or any copy-detection model with the same contract) from a user-supplied TorchScript file, e.g. SSCD's
/// released <c>sscd_disc_large.torchscript.pt</c>: input a normalised batch <c>[N,3,H,W]</c>, output <c>[N,D]</c>.
/// The weights cannot be downloaded here, so the user provides the file. CPU inference in inference mode; outputs
/// are L2-normalised again in case the model does not do it; D is found with one probe forward at load time.
/// </summary>
public sealed class SscdDescriptor : ImageDescriptorBase
{
    private readonly jit.ScriptModule<Tensor, Tensor> _module;

    private SscdDescriptor(jit.ScriptModule<Tensor, Tensor> module, string path, int dimension,
        DescriptorPreprocessing preprocessing, int batchSize) : base(preprocessing, batchSize)
    {
        _module = module;
        FilePath = path;
        Dimension = dimension;
    }

    public string FilePath { get; }
    public override string Name => $"sscd-torchscript ({Path.GetFileName(FilePath)})";
    public override bool IsSscd => true;
    public override int Dimension { get; }

    /// <summary>Loads and checks a TorchScript descriptor; user errors become <see cref="FineXtractException"/>.</summary>
    public static SscdDescriptor Load(string path, DescriptorPreprocessing? preprocessing = null, int batchSize = 16)
    {
        preprocessing ??= DescriptorPreprocessing.FineXtract;
        if (Directory.Exists(path)) throw new FineXtractException($"{path}: is a folder, expected a TorchScript descriptor file (.pt)");
        if (!File.Exists(path)) throw new FineXtractException($"{path}: descriptor file not found");
        CheckIsTorchScriptArchive(path);

        jit.ScriptModule<Tensor, Tensor> module;
        try
        {
            module = jit.load<Tensor, Tensor>(path);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new FineXtractException($"{path}: torch.jit.load failed, not a loadable TorchScript module ({FirstLine(e.Message)})", e);
        }
        try
        {
            module.eval();
            int dimension = Probe(module, path, preprocessing.NominalSize);
            return new SscdDescriptor(module, path, dimension, preprocessing, batchSize);
        }
        catch
        {
            module.Dispose();
            throw;
        }
    }

    /// <summary>
    /// TorchScript files are zip archives holding <c>code/</c> (or <c>constants.pkl</c>) next to <c>data.pkl</c>;
    /// a plain <c>torch.save</c> checkpoint has <c>data.pkl</c> but no code. Checked before libtorch sees the file,
    /// so that the error can say what the file is.
    /// </summary>
    private static void CheckIsTorchScriptArchive(string path)
    {
        List<string> names;
        try
        {
            using var zip = ZipFile.OpenRead(path);
            names = zip.Entries.Select(e => e.FullName).ToList();
        }
        catch (InvalidDataException)
        {
            throw new FineXtractException($"{path}: not a TorchScript file (not a zip archive; export the model with torch.jit.script or torch.jit.trace and torch.jit.save, e.g. SSCD's *.torchscript.pt)");
        }
        bool hasCode = names.Any(n => n.Contains("/code/", StringComparison.Ordinal) || n.StartsWith("code/", StringComparison.Ordinal)
            || n.EndsWith("/constants.pkl", StringComparison.Ordinal));
        if (!hasCode)
        {
            string kind = names.Any(n => n.EndsWith("data.pkl", StringComparison.Ordinal))
                ? "a torch.save checkpoint (pickled weights), not TorchScript"
                : "a zip archive without TorchScript code";
            throw new FineXtractException($"{path}: {kind}; export the model with torch.jit.script/trace and torch.jit.save (SSCD ships *.torchscript.pt files)");
        }
    }

    private static int Probe(jit.ScriptModule<Tensor, Tensor> module, string path, int size)
    {
        using var mode = torch.inference_mode();
        using var scope = torch.NewDisposeScope();
        using var generator = new Generator(0);
        var input = torch.rand([1, 3, size, size], generator: generator) * 2 - 1;
        Tensor output;
        try
        {
            output = module.call(input);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new FineXtractException($"{path}: the TorchScript module failed on a [1,3,{size},{size}] float image batch ({FirstLine(e.Message)})", e);
        }
        if (output.dim() != 2 || output.shape[0] != 1 || output.shape[1] <= 0 || !output.is_floating_point())
            throw new FineXtractException($"{path}: the TorchScript module returned [{string.Join(",", output.shape)}] {output.dtype} for one image; a descriptor must return [N,D] floats");
        return checked((int)output.shape[1]);
    }

    protected override Tensor Forward(Tensor batch)
    {
        try
        {
            return _module.call(batch);
        }
        catch (System.Runtime.InteropServices.ExternalException e)
        {
            throw new FineXtractException($"{Name}: forward failed on a batch [{string.Join(",", batch.shape)}] ({FirstLine(e.Message)})", e);
        }
    }

    protected override void DisposeModel() => _module.Dispose();

    private static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();
}
