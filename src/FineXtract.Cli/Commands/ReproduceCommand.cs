using System.CommandLine;
using FineXtract.Extraction.Pipeline;

namespace FineXtract.Cli.Commands;

/// <summary><c>finextract reproduce results.json --image N</c>: regenerate one image bit for bit (CPU, fp32).</summary>
public static class ReproduceCommand
{
    public static Command Create()
    {
        var results = new Argument<string>("results") { Description = "results.json of an extraction" };
        var image = new Option<int>("--image") { Required = true, Description = "Index of the generated image" };
        var output = new Option<string?>("--out") { Description = "PNG to write (default: reproduced_NNNNNN.png beside results.json)" };
        var command = new Command("reproduce", "Regenerate one image of a recorded run and compare it with the original") { results, image, output };
        command.SetAction(parse =>
        {
            var r = Reproduction.Run(parse.GetValue(results)!, parse.GetValue(image), parse.GetValue(output));
            var o = parse.InvocationConfiguration.Output;
            o.WriteLine($"image {r.Image} written to {r.WrittenTo}");
            if (r.BitIdentical is { } same)
                o.WriteLine(same ? $"bit-identical to {r.OriginalFile}" : $"DIFFERS from {r.OriginalFile}");
            return r.BitIdentical == false ? 1 : 0;
        });
        return command;
    }
}
