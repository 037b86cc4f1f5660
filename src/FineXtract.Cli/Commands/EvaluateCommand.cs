using System.CommandLine;
using System.Text.Json;
using FineXtract.Extraction.Descriptors;
using FineXtract.Extraction.Imaging;
using FineXtract.Extraction.Metrics;

namespace FineXtract.Cli.Commands;

/// <summary><c>finextract evaluate</c>: AS and A-ESR of a folder of extracted images against the true training images.</summary>
public static class EvaluateCommand
{
    public static Command Create()
    {
        var descriptor = new DescriptorOptions();
        var extracted = new Option<string>("--extracted") { Required = true, Description = "Folder of extracted images" };
        var reference = new Option<string>("--reference") { Required = true, Description = "Folder of the true training images" };
        var command = new Command("evaluate", "AS and A-ESR (0.5/0.6/0.7) of extracted images against training images, as JSON") { extracted, reference };
        descriptor.AddTo(command);
        command.SetAction(parse =>
        {
            string extractedDir = parse.GetValue(extracted)!, referenceDir = parse.GetValue(reference)!;
            var extractedFiles = ImageIO.ListImages(extractedDir);
            var referenceFiles = ImageIO.ListImages(referenceDir);
            if (extractedFiles.Count == 0) throw new FineXtractException($"{extractedDir}: no images");
            if (referenceFiles.Count == 0) throw new FineXtractException($"{referenceDir}: no images");
            using var d = descriptor.Create(parse);
            var e = d.EmbedFiles(extractedFiles);
            var r = d.EmbedFiles(referenceFiles);
            var m = ExtractionMetrics.Compute(r, referenceFiles.Select(f => Path.GetFileName(f)).ToList(), e, extractedFiles.Select(f => Path.GetFileName(f)).ToList());
            parse.InvocationConfiguration.Output.WriteLine(JsonSerializer.Serialize(new
            {
                descriptor = d.Name,
                averageSimilarity = m.AverageSimilarity,
                successRates = m.SuccessRates.ToDictionary(x => x.Threshold.ToString("0.0#", System.Globalization.CultureInfo.InvariantCulture), x => x.Rate),
                perImage = m.Matches.Select(x => new { reference = x.ReferenceName, bestExtracted = x.MatchName, similarity = x.Similarity }),
            }, JsonDefaults.Output));
            return 0;
        });
        return command;
    }
}
