using System.CommandLine;
using System.Text.Json;
using FineXtract.Checkpoints;
using FineXtract.Extraction.Descriptors;
using FineXtract.Extraction.Imaging;
using TorchSharp;

namespace FineXtract.Cli.Commands;

/// <summary>
/// <c>finextract embed</c>: descriptor embeddings of every image in a folder, written as a safetensors file with
/// <c>embeddings</c> [n,d] (float32, unit rows) and metadata <c>files</c> (JSON array of file names, in row order),
/// <c>descriptor</c>, <c>descriptor_is_sscd</c> and <c>preprocess</c>.
/// </summary>
public static class EmbedCommand
{
    public static Command Create()
    {
        var images = new Option<string>("--images") { Required = true, HelpName = "DIR", Description = "Folder of images (jpg, png, webp, bmp; not recursive; ordinal file-name order)" };
        var output = new Option<string>("--out") { Required = true, HelpName = "FILE.safetensors", Description = "Output safetensors file" };
        var batch = new Option<int>("--batch-size") { DefaultValueFactory = _ => 32, Description = "Images decoded and embedded at a time" };
        batch.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() <= 0) r.AddError("--batch-size must be positive");
        });
        var descriptorOptions = new DescriptorOptions();
        var command = new Command("embed", "Embed a folder of images with the copy-detection descriptor") { images, output, batch };
        descriptorOptions.AddTo(command);
        command.SetAction(parse =>
        {
            using var descriptor = descriptorOptions.Create(parse);
            var (count, dimension) = Run(descriptor, parse.GetValue(images)!, parse.GetValue(output)!, parse.GetValue(batch));
            parse.InvocationConfiguration.Output.WriteLine(
                $"embedded {count} images with {descriptor.Name} ({descriptor.Preprocessing.Name} preprocessing, d={dimension}) -> {parse.GetValue(output)}");
            return 0;
        });
        return command;
    }

    public static (int Count, int Dimension) Run(IImageDescriptor descriptor, string imagesDir, string outputPath, int batchSize = 32)
    {
        var files = ImageIO.ListImages(imagesDir);
        if (files.Count == 0)
            throw new FineXtractException($"{imagesDir}: no image files ({string.Join(", ", ImageIO.Extensions)})");
        var rows = descriptor.EmbedFiles(files, batchSize);
        int d = descriptor.Dimension;
        var flat = new float[files.Count * d];
        for (int i = 0; i < rows.Length; i++) rows[i].CopyTo(flat, i * d);
        using var embeddings = torch.tensor(flat, [files.Count, d]);
        var metadata = new Dictionary<string, string>
        {
            ["files"] = JsonSerializer.Serialize(files.Select(Path.GetFileName).ToArray()),
            ["descriptor"] = descriptor.Name,
            ["descriptor_is_sscd"] = descriptor.IsSscd ? "true" : "false",
            ["preprocess"] = descriptor.Preprocessing.Name,
        };
        string? dir = Path.GetDirectoryName(Path.GetFullPath(outputPath));
        if (dir is not null) Directory.CreateDirectory(dir);
        SafeTensorsWriter.Write(outputPath, new Dictionary<string, torch.Tensor> { ["embeddings"] = embeddings }, metadata);
        return (files.Count, d);
    }
}
