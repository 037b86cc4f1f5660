using FineXtract.Diffusion.Tokenization;
using FineXtract.Extraction.Imaging;
using FineXtract.Extraction.Pipeline;
using FineXtract.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FineXtract.Tests.Training;

/// <summary>Synthetic images and a tiny base pipeline (VAE and base trained for two steps each), built once per test class.</summary>
public sealed class TinyWorld : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "finextract-train-" + Guid.NewGuid().ToString("N"));
    public string PretrainDir => Path.Combine(Root, "pretrain");
    public string CaptionsCsv => Path.Combine(PretrainDir, "captions.csv");
    public string InstanceDir => Path.Combine(Root, "instance");
    public string BaseDir => Path.Combine(Root, "base");
    public const string Prompt = "art style of tiny testpainter";

    public static MiniatureFamily Family => MiniatureConfigs.Tiny;

    public TinyWorld()
    {
        WriteImages(PretrainDir, 6, 20, seed: 1);
        File.WriteAllText(CaptionsCsv, "file,caption,source\n" +
            "img0.png,a photo of a cat,photos\nimg1.png,\"a photo of a dog, outdoors\",photos\nimg2.png,a photo of a cat,photos\n" +
            "img3.png,a photo of a teapot,photos\nimg4.png,\"Blue, an oil painting by Someone\",art\nimg5.png,a photo of a dog,photos\n");
        WriteImages(InstanceDir, 3, 24, seed: 2);

        var options = Options(steps: 2, batch: 3, dir: Path.Combine(Root, "ck-vae"));
        using (var data = PretrainData())
            VaeTrainer.Run(new VaeJob(Family, data, options, new VaeLossSettings(), BaseDir, ScaleSamples: 6), null, null, default);
        using (var data = PretrainData())
            BaseTrainer.Run(new BaseJob(Family, data, options with { CheckpointDir = Path.Combine(Root, "ck-base") }, BaseDir, BaseDir,
                Tokenizer), null, null, default);
    }

    public static ClipTokenizer Tokenizer { get; } = ClipTokenizer.FromDirectory(ExtractionModels.BundledTokenizerPath);

    public ImageCaptionDataset PretrainData(bool flip = false) =>
        new(ImageCaptionDataset.ReadCaptionsCsv(CaptionsCsv), new Augmentation(Family.Resolution, Flip: flip));

    public ImageCaptionDataset InstanceData(int padding = 0) =>
        new(ImageCaptionDataset.ReadFolder(InstanceDir, Prompt), new Augmentation(Family.Resolution, padding));

    public TrainingOptions Options(int steps, int batch, string dir, double lr = 1e-3) =>
        new() { Steps = steps, BatchSize = batch, LearningRate = lr, Seed = 7, CheckpointDir = dir, CheckpointEvery = 0 };

    public string NewDir(string name) => Path.Combine(Root, name + "-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>Smooth random colour fields (so a VAE has something learnable), saved as PNG.</summary>
    public static void WriteImages(string dir, int count, int size, int seed)
    {
        Directory.CreateDirectory(dir);
        using var g = new Generator((ulong)seed, CPU);
        for (int i = 0; i < count; i++)
        {
            using var scope = NewDisposeScope();
            var coarse = rand([1, 3, 3, 3], generator: g);
            var img = nn.functional.interpolate(coarse, size: [size, size], mode: InterpolationMode.Bilinear, align_corners: true)[0];
            ImageIO.SavePng(img, Path.Combine(dir, $"img{i}.png"));
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }
}
