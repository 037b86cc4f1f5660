using System.CommandLine;
using System.Diagnostics;
using FineXtract.Checkpoints;
using FineXtract.Cli.Benchmarks;
using TorchSharp;

namespace FineXtract.Cli.Commands;

/// <summary><c>finextract bench</c>: benchmarks that print figures (not tests).</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Benchmarks that print figures");
        command.Subcommands.Add(CreateUnet());
        command.Subcommands.Add(CreateCampaign());
        return command;
    }

    private static Command CreateCampaign()
    {
        var checkpoints = new Option<int>("--checkpoints") { DefaultValueFactory = _ => 10_000, Description = "Checkpoints in the manifest" };
        var silos = new Option<int>("--silos") { DefaultValueFactory = _ => 2, Description = "Silo processes (role all)" };
        var sleep = new Option<int>("--sleep-ms") { DefaultValueFactory = _ => 20, Description = "Stand-in sampler: sleep per seed batch" };
        var images = new Option<int>("--images") { DefaultValueFactory = _ => 4, Description = "Images per checkpoint" };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => 4, Description = "Images per batch" };
        var slots = new Option<int>("--slots") { DefaultValueFactory = _ => 16, Description = "Sampler slots per silo" };
        var parallel = new Option<int>("--parallel") { DefaultValueFactory = _ => 128, Description = "Checkpoints audited at once" };
        var redis = new Option<string?>("--redis") { Description = "Use this Redis (default: start a private redis-server on a free port)" };
        var artifacts = new Option<string?>("--artifacts") { Description = "Artifact root (default: a temporary folder, removed afterwards)" };
        var command = new Command("campaign", "Orleans orchestration at scale: a large campaign on silo processes whose samplers only sleep")
        {
            checkpoints, silos, sleep, images, batch, slots, parallel, redis, artifacts,
        };
        command.SetAction((parse, cancel) => CampaignBench.RunAsync(new CampaignBenchOptions(parse.GetValue(checkpoints), parse.GetValue(silos),
            parse.GetValue(sleep), parse.GetValue(images), parse.GetValue(batch), parse.GetValue(slots), parse.GetValue(parallel), parse.GetValue(redis),
            parse.GetValue(artifacts)), parse.InvocationConfiguration.Output, cancel));
        return command;
    }

    private static Command CreateUnet()
    {
        var model = new Option<string>("--model") { Required = true, Description = "UNet (diffusers folder, component folder or single file)" };
        var config = new Option<string?>("--config") { Description = "config.json for a single-file UNet" };
        var batches = new Option<int[]>("--batch") { DefaultValueFactory = _ => [1, 8], AllowMultipleArgumentsPerToken = true, Description = "Batch sizes" };
        var size = new Option<int?>("--latent-size") { Description = "Latent height = width (default: the config's sample_size)" };
        var seconds = new Option<double>("--seconds") { DefaultValueFactory = _ => 3.0, Description = "Measuring time per batch size" };
        var threads = new Option<int?>("--threads") { Description = "Intra-op threads (default: libtorch's choice)" };
        var command = new Command("unet", "UNet forward latency and achieved GFLOP/s (fp32, CPU)") { model, config, batches, size, seconds, threads };
        command.SetAction(parse =>
        {
            if (parse.GetValue(threads) is { } t) torch.set_num_threads(t);
            using var unet = ModelLoader.LoadUnet(parse.GetValue(model)!, parse.GetValue(config));
            int side = parse.GetValue(size) ?? unet.Config.SampleSize;
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine($"UNet {string.Join("/", unet.Config.BlockOutChannels)} channels, latent {side}x{side}, context 77x{unet.Config.CrossAttentionDim}, {torch.get_num_threads()} threads, fp32 CPU");
            output.WriteLine("batch  ms/forward  ms/image  GFLOP/forward  GFLOP/s");
            foreach (int batch in parse.GetValue(batches)!)
            {
                using var _ = torch.inference_mode();
                using var x = torch.randn(batch, unet.Config.InChannels, side, side);
                using var ts = torch.full(batch, 500, torch.ScalarType.Int64);
                using var ctx = torch.randn(batch, 77, unet.Config.CrossAttentionDim);
                for (int i = 0; i < 3; i++) unet.forward(x, ts, ctx).Dispose();
                var sw = Stopwatch.StartNew();
                int iterations = 0;
                while (sw.Elapsed.TotalSeconds < parse.GetValue(seconds) || iterations < 5)
                {
                    unet.forward(x, ts, ctx).Dispose();
                    iterations++;
                }
                double ms = sw.Elapsed.TotalMilliseconds / iterations;
                double gflop = UNetFlops.Count(unet.Config, batch, side, side, 77) / 1e9;
                output.WriteLine($"{batch,5}  {ms,10:F2}  {ms / batch,8:F2}  {gflop,13:F4}  {gflop / (ms / 1000),7:F2}");
            }
            return 0;
        });
        return command;
    }
}
