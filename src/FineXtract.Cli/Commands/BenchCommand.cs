using System.CommandLine;
using System.Diagnostics;
using FineXtract.Checkpoints;
using FineXtract.Extraction.Pipeline;
using FineXtract.Extraction.Sampling;
using FineXtract.Cli.Benchmarks;
using FineXtract.Extraction.Clustering;
using TorchSharp;

namespace FineXtract.Cli.Commands;

/// <summary><c>finextract bench</c>: benchmarks that print figures (not tests).</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Benchmarks that print figures");
        command.Subcommands.Add(CreateUnet());
        command.Subcommands.Add(CreateClique());
        command.Subcommands.Add(CreateSampling());
        command.Subcommands.Add(CreateCampaign());
        command.Subcommands.Add(PaperBenchCommand.Create());
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

    private static Command CreateClique()
    {
        var defaults = new CliqueClusteringOptions();
        var sizes = new Option<int[]>("--n") { DefaultValueFactory = _ => [500, 5000], AllowMultipleArgumentsPerToken = true, Description = "Sample counts" };
        var dim = new Option<int>("--dim") { DefaultValueFactory = _ => 512, Description = "Embedding dimension" };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 0, Description = "Seed of the synthetic data" };
        var expect = new Option<int>("--expect") { DefaultValueFactory = _ => defaults.Expected, Description = "N (training images)" };
        var model = ClusterCommand.BudgetModelOption();
        var budget = ClusterCommand.BudgetOption();
        var command = new Command("clique", "Clique clustering on synthetic embeddings (10 planted near-duplicate groups + diffuse style samples)")
        {
            sizes, dim, seed, expect, model, budget,
        };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var options = defaults with
            {
                Expected = parse.GetValue(expect),
                BudgetModel = ClusterCommand.ParseBudgetModel(parse.GetValue(model)!),
                WorkBudget = ClusterCommand.ParseBudget(parse.GetValue(budget)),
            };
            string units = options.BudgetModel == CliqueBudgetModel.MaximumCliqueSearch ? "search nodes" : "enumeration calls";
            output.WriteLine($"clique clustering, dim {parse.GetValue(dim)}, seed {parse.GetValue(seed)}, N {options.Expected}, budget {(options.Budget == long.MaxValue ? "unlimited" : options.Budget.ToString())} {units}, {Environment.ProcessorCount} cores");
            output.WriteLine("planted_exact: planted groups returned exactly as a clique; hit_all / hit_n: planted groups containing a selected representative (faithful: all M / exact-n: the N largest)");
            output.WriteLine("      n  similarity_s  cluster_s  start  threshold  label     M  rounds  exceeded        work  planted_exact  hit_all  hit_n");
            foreach (int n in parse.GetValue(sizes)!)
            {
                if (n < 2) throw new FineXtractException($"--n must be >= 2, got {n}");
                var data = SyntheticEmbeddings.Generate(n, parse.GetValue(dim), parse.GetValue(seed));
                var sw = Stopwatch.StartNew();
                var graph = SimilarityGraph.FromEmbeddings(data.Vectors);
                double similarity = sw.Elapsed.TotalSeconds;
                sw.Restart();
                var r = CliqueClustering.Run(graph, options);
                double cluster = sw.Elapsed.TotalSeconds;
                var found = r.Clusters.Select(c => string.Join(',', c.Members)).ToHashSet();
                int exact = data.Groups.Count(g => found.Contains(string.Join(',', g)));
                int Hits(IEnumerable<CliqueCluster> selected) =>
                    data.Groups.Count(g => selected.Any(c => Array.BinarySearch(g, c.Representative) >= 0));
                int hitAll = Hits(r.Clusters), hitN = Hits(r.Clusters.Take(options.Expected));
                output.WriteLine(FormattableString.Invariant(
                    $"{n,7}  {similarity,12:F2}  {cluster,9:F2}  {r.StartThreshold,5:F2}  {r.Threshold,9:F2}  {r.OfficialThresholdLabel,5:F2}  {r.M,4}  {r.Rounds,6}  {r.BudgetExceededRounds,8}  {r.TotalWork,10}  {exact,10}/{data.Groups.Length}  {hitAll,4}/{data.Groups.Length}  {hitN,2}/{data.Groups.Length}"));
            }
            return 0;
        });
        return command;
    }

    /// <summary>Seed-batch throughput of the real sampler (guidance, denoising loop, VAE decode) in UNet evaluations per second.</summary>
    private static Command CreateSampling()
    {
        var models = new ModelOptions();
        var images = new Option<int>("--images") { DefaultValueFactory = _ => 20, Description = "Images per measurement" };
        var batches = new Option<int[]>("--batch") { DefaultValueFactory = _ => [1, 10], AllowMultipleArgumentsPerToken = true, Description = "Batch sizes" };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 10, Description = "Denoising steps" };
        var threads = new Option<int?>("--threads") { Description = "Intra-op threads (default: libtorch's choice)" };
        var command = new Command("sampling", "FineXtract sampling throughput (UNet evals/s, images/s; fp32 CPU)") { images, batches, steps, threads };
        models.AddTo(command);
        command.SetAction(parse =>
        {
            if (parse.GetValue(threads) is { } t) torch.set_num_threads(t);
            var sources = models.Read(parse);
            using var loaded = ExtractionModels.Load(sources);
            var output = parse.InvocationConfiguration.Output;
            var guidance = GuidanceSettings.Default(ExtractionMethod.FineXtract, sources.Kind == FineTuneKind.Lora);
            int n = parse.GetValue(images);
            output.WriteLine($"FineXtract sampling, latent {loaded.PretrainedUnet.Config.SampleSize}², {parse.GetValue(steps)} steps, {torch.get_num_threads()} threads, fp32 CPU");
            output.WriteLine("batch  images  seconds  images/s  UNet evals/s");
            foreach (int batch in parse.GetValue(batches)!)
            {
                using var sampler = new SeedBatchSampler(loaded, new SamplingSettings("a photo", guidance, SamplerMode.Faithful, parse.GetValue(steps), 0,
                    loaded.PretrainedUnet.Config.SampleSize));
                sampler.Generate([0]).Dispose(); // warm-up
                var sw = Stopwatch.StartNew();
                for (int start = 0; start < n; start += batch)
                    sampler.Generate(Enumerable.Range(start, Math.Min(batch, n - start)).Select(i => (long)i).ToList()).Dispose();
                double seconds = sw.Elapsed.TotalSeconds;
                output.WriteLine($"{batch,5}  {n,6}  {seconds,7:F2}  {n / seconds,8:F2}  {(double)n * sampler.UNetEvaluationsPerImage / seconds,12:F1}");
            }
            return 0;
        });
        return command;
    }
}
