using System.CommandLine;
using FineXtract.Extraction.Descriptors;

namespace FineXtract.Cli;

/// <summary>
/// The <c>--descriptor FILE|builtin</c> and <c>--preprocess finextract|sscd</c> options shared by every verb that embeds
/// images (embed, extract, evaluate, cluster): add them with <see cref="AddTo"/>, build the descriptor with <see cref="Create"/>.
/// </summary>
public sealed class DescriptorOptions
{
    public Option<string> Descriptor { get; } = new("--descriptor")
    {
        DefaultValueFactory = _ => DescriptorFactory.Builtin,
        HelpName = "FILE|builtin",
        Description = "Image descriptor: an SSCD TorchScript file (e.g. sscd_disc_large.torchscript.pt, as FineXtract uses; "
            + "not downloadable here, supply it) or 'builtin', a pixel descriptor that is NOT SSCD (demo only)",
    };

    public Option<string> Preprocess { get; } = new("--preprocess")
    {
        DefaultValueFactory = _ => "finextract",
        Description = "Descriptor preprocessing: finextract (resize 256, centre crop 224, mean/std 0.5, as the paper) "
            + "or sscd (short side 288, ImageNet mean/std, as SSCD's README)",
    };

    public DescriptorOptions()
    {
        Preprocess.AcceptOnlyFromAmong([.. DescriptorPreprocessing.Names]);
    }

    public void AddTo(Command command)
    {
        command.Options.Add(Descriptor);
        command.Options.Add(Preprocess);
    }

    /// <summary>
    /// Builds the descriptor the user asked for; for the builtin one a note saying that the scores are not SSCD's goes
    /// to the command's error stream.
    /// </summary>
    public IImageDescriptor Create(ParseResult parse)
    {
        var preprocessing = DescriptorPreprocessing.Parse(parse.GetValue(Preprocess)!);
        var descriptor = DescriptorFactory.Create(parse.GetValue(Descriptor)!, preprocessing);
        if (!descriptor.IsSscd)
            parse.InvocationConfiguration.Error.WriteLine(
                $"note: using the {descriptor.Name} descriptor; its scores are not SSCD scores and not comparable with the paper's (pass --descriptor FILE.torchscript.pt)");
        return descriptor;
    }
}
