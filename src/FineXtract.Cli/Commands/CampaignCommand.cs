using System.CommandLine;
using System.Globalization;
using FineXtract.Cli.Campaigns;
using FineXtract.Grains;
using FineXtract.Silo;
using Spectre.Console;

namespace FineXtract.Cli.Commands;

/// <summary>
/// <c>finextract campaign submit|status|report|cancel</c>: bulk audits on a running cluster, as an Orleans client
/// that finds the silos through Redis (<c>--cluster CONN</c>, the same connection the silos got as <c>--redis</c>).
/// </summary>
public static class CampaignCommand
{
    private sealed class ClusterOptions
    {
        public Option<string> Cluster { get; } = new("--cluster")
        {
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("FINEXTRACT_CLUSTER") ?? "localhost:6379",
            Description = "Redis connection of the cluster (default: $FINEXTRACT_CLUSTER, else localhost:6379)",
        };
        public Option<string> ClusterId { get; } = new("--cluster-id") { DefaultValueFactory = _ => "finextract", Description = "Orleans cluster id" };
        public Option<string> ServiceId { get; } = new("--service-id") { DefaultValueFactory = _ => "finextract", Description = "Orleans service id" };

        public void AddTo(Command c)
        {
            c.Options.Add(Cluster);
            c.Options.Add(ClusterId);
            c.Options.Add(ServiceId);
        }

        public Task<ClusterConnection> ConnectAsync(ParseResult parse, CancellationToken cancel) =>
            ClusterConnection.ConnectAsync(parse.GetValue(Cluster)!, parse.GetValue(ClusterId)!, parse.GetValue(ServiceId)!, cancel);
    }

    public static Command Create()
    {
        var command = new Command("campaign", "Bulk audits on the cluster: submit a manifest, follow it, collect the report, cancel");
        command.Subcommands.Add(Submit());
        command.Subcommands.Add(Status());
        command.Subcommands.Add(Report());
        command.Subcommands.Add(Cancel());
        return command;
    }

    private static Command Submit()
    {
        var cluster = new ClusterOptions();
        var manifest = new Option<string>("--manifest") { Required = true, Description = "JSONL manifest: one {id, base, finetuned|lora, prompt?, reference?, sha256?} per line" };
        var id = new Option<string?>("--id") { Description = "Campaign id (default: generated)" };
        var name = new Option<string?>("--name") { Description = "A label for people" };
        var method = new Option<string?>("--method") { Description = "finextract | cfg | direct" };
        var variant = new Option<string?>("--variant") { Description = "conditional | same-caption | caption-free" };
        var guidance = new Option<double?>("--guidance") { Description = "Guidance scale w" };
        var fixTerm = new Option<double?>("--fix-term") { Description = "FineXtract's k" };
        var images = new Option<int?>("--images") { Description = "Images per checkpoint (default 500)" };
        var batch = new Option<int?>("--batch") { Description = "Images per seed batch (default 10)" };
        var steps = new Option<int?>("--steps") { Description = "Denoising steps (default 50)" };
        var seed = new Option<long?>("--seed") { Description = "Run seed" };
        var sampler = new Option<string?>("--sampler") { Description = "faithful | ddim" };
        var select = new Option<string?>("--select") { Description = "faithful | exact-n" };
        var expect = new Option<int?>("--expect") { Description = "N, training images per checkpoint" };
        var latent = new Option<int?>("--latent-size") { Description = "Latent side" };
        var descriptor = new Option<string?>("--descriptor") { Description = "SSCD TorchScript file (on the silos) or builtin" };
        var preprocess = new Option<string?>("--preprocess") { Description = "finextract | sscd" };
        var earlyStop = new Option<bool>("--early-stop") { Description = "Stop sampling a checkpoint once its cluster set has stopped changing (off: code-faithful)" };
        var patience = new Option<int?>("--early-stop-patience") { Description = "Unchanged batches that count as settled (default 3)" };
        var perCheckpoint = new Option<int?>("--samplers-per-checkpoint") { Description = "Sampler activations one checkpoint's batches spread over (default 1)" };
        var parallel = new Option<int?>("--parallel") { Description = "Checkpoints audited at once (default 16)" };
        var share = new Option<double?>("--share-threshold") { Description = "Similarity at which two checkpoints' extracted images count as one (default 0.95)" };
        var maxDownload = new Option<long?>("--max-download-bytes") { Description = "Size cap for files fetched from URLs (default 16 GiB)" };
        var wait = new Option<bool>("--wait") { Description = "Wait until the campaign has finished, showing progress" };
        var c = new Command("submit", "Submit a campaign manifest")
        {
            manifest, id, name, method, variant, guidance, fixTerm, images, batch, steps, seed, sampler, select, expect, latent, descriptor, preprocess,
            earlyStop, patience, perCheckpoint, parallel, share, maxDownload, wait,
        };
        cluster.AddTo(c);
        c.SetAction(async (parse, cancel) =>
        {
            var entries = ManifestReader.Read(parse.GetValue(manifest)!);
            var parameters = new CampaignParameters
            {
                Extraction = new ExtractionParameters
                {
                    Images = parse.GetValue(images), Batch = parse.GetValue(batch), Steps = parse.GetValue(steps), Seed = parse.GetValue(seed),
                    Method = parse.GetValue(method), Variant = parse.GetValue(variant), Guidance = parse.GetValue(guidance), FixTerm = parse.GetValue(fixTerm),
                    Sampler = parse.GetValue(sampler), Selection = parse.GetValue(select), Expected = parse.GetValue(expect), LatentSize = parse.GetValue(latent),
                    Descriptor = parse.GetValue(descriptor), Preprocess = parse.GetValue(preprocess), EarlyStop = parse.GetValue(earlyStop),
                    EarlyStopPatience = parse.GetValue(patience), SamplersPerCheckpoint = parse.GetValue(perCheckpoint),
                },
                Parallel = parse.GetValue(parallel),
                ShareThreshold = parse.GetValue(share),
                MaxDownloadBytes = parse.GetValue(maxDownload),
            };
            string campaignId = parse.GetValue(id) ?? CampaignIds.New();
            if (!ManifestIds.IsValid(campaignId)) throw new FineXtractException($"--id '{campaignId}': use letters, digits, '.', '_' and '-'");
            await using var connection = await cluster.ConnectAsync(parse, cancel);
            var grain = connection.Client.GetGrain<ICampaignGrain>(campaignId);
            var status = await grain.Submit(new CampaignSubmission(entries, parameters, parse.GetValue(name)));
            parse.InvocationConfiguration.Output.WriteLine(campaignId);
            parse.InvocationConfiguration.Error.WriteLine($"campaign {campaignId}: {status.Total} checkpoints submitted");
            if (!parse.GetValue(wait)) return 0;
            status = await WatchAsync(parse, grain, cancel);
            return status.Count(CheckpointState.Failed) > 0 ? 1 : 0;
        });
        return c;
    }

    private static Argument<string> IdArgument() => new("id") { Description = "Campaign id" };

    private static Command Status()
    {
        var cluster = new ClusterOptions();
        var id = IdArgument();
        var watch = new Option<bool>("--watch") { Description = "Refresh until the campaign has finished" };
        var all = new Option<bool>("--all") { Description = "List every checkpoint (default: the unfinished and failed ones, up to 50)" };
        var c = new Command("status", "Show a campaign's progress") { id, watch, all };
        cluster.AddTo(c);
        c.SetAction(async (parse, cancel) =>
        {
            await using var connection = await cluster.ConnectAsync(parse, cancel);
            var grain = connection.Client.GetGrain<ICampaignGrain>(parse.GetValue(id)!);
            if (parse.GetValue(watch))
            {
                await WatchAsync(parse, grain, cancel);
                return 0;
            }
            var status = await grain.GetStatus() ?? throw new FineXtractException($"no campaign '{parse.GetValue(id)}'");
            var checkpoints = await grain.GetCheckpoints(0, int.MaxValue);
            Console(parse).Write(Table(status, checkpoints, parse.GetValue(all)));
            return 0;
        });
        return c;
    }

    private static Command Report()
    {
        var cluster = new ClusterOptions();
        var id = IdArgument();
        var output = new Option<string>("--out") { Required = true, Description = "Folder for the per-checkpoint evidence and the index page" };
        var c = new Command("report", "Collect a campaign's evidence and write an index page") { id, output };
        cluster.AddTo(c);
        c.SetAction(async (parse, cancel) =>
        {
            await using var connection = await cluster.ConnectAsync(parse, cancel);
            var grain = connection.Client.GetGrain<ICampaignGrain>(parse.GetValue(id)!);
            var report = await grain.GetReport() ?? throw new FineXtractException($"no campaign '{parse.GetValue(id)}'");
            string folder = parse.GetValue(output)!;
            int bundles = await CampaignReportWriter.WriteAsync(grain, report, folder, cancel);
            parse.InvocationConfiguration.Output.WriteLine(
                $"{report.Checkpoints.Count} checkpoints ({bundles} evidence bundles, {report.Shared.Count} shared images): {Path.Combine(folder, "index.html")}");
            return 0;
        });
        return c;
    }

    private static Command Cancel()
    {
        var cluster = new ClusterOptions();
        var id = IdArgument();
        var c = new Command("cancel", "Cancel a campaign (queued checkpoints are dropped, running ones stop with partial evidence)") { id };
        cluster.AddTo(c);
        c.SetAction(async (parse, cancel) =>
        {
            await using var connection = await cluster.ConnectAsync(parse, cancel);
            var grain = connection.Client.GetGrain<ICampaignGrain>(parse.GetValue(id)!);
            if (await grain.GetStatus() is null) throw new FineXtractException($"no campaign '{parse.GetValue(id)}'");
            await grain.Cancel();
            parse.InvocationConfiguration.Output.WriteLine($"campaign {parse.GetValue(id)} cancelled");
            return 0;
        });
        return c;
    }

    private static IAnsiConsole Console(ParseResult parse) =>
        AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(parse.InvocationConfiguration.Output) });

    private static async Task<CampaignStatus> WatchAsync(ParseResult parse, ICampaignGrain grain, CancellationToken cancel)
    {
        var console = Console(parse);
        bool interactive = ReferenceEquals(parse.InvocationConfiguration.Output, System.Console.Out) && !System.Console.IsOutputRedirected;
        CampaignStatus status = await grain.GetStatus() ?? throw new FineXtractException("no such campaign");
        string last = "";
        if (interactive)
        {
            await console.Live(Table(status, await grain.GetCheckpoints(0, int.MaxValue), false)).StartAsync(async live =>
            {
                while (status.FinishedAt is null)
                {
                    await Task.Delay(1000, cancel);
                    status = (await grain.GetStatus())!;
                    live.UpdateTarget(Table(status, await grain.GetCheckpoints(0, int.MaxValue), false));
                }
            });
            return status;
        }
        while (true)
        {
            string line = Summary(status);
            if (line != last) parse.InvocationConfiguration.Output.WriteLine(line);
            last = line;
            if (status.FinishedAt is not null) return status;
            await Task.Delay(1000, cancel);
            status = (await grain.GetStatus())!;
        }
    }

    private static string Summary(CampaignStatus s) =>
        $"{s.Id} {s.State.ToString().ToLowerInvariant()}: " + string.Join(", ", s.Counts.Where(c => c.Value > 0).Select(c => $"{c.Value} {c.Key}"))
        + $" of {s.Total}; {s.ImagesGenerated} images";

    private static Table Table(CampaignStatus s, IReadOnlyList<CheckpointStatus> checkpoints, bool all)
    {
        var table = new Table().Title(Markup.Escape(Summary(s)));
        foreach (var col in new[] { "checkpoint", "state", "images", "extracted", "hits", "AS", "reason" }) table.AddColumn(col);
        var rows = all ? checkpoints : checkpoints.Where(c => c.State != CheckpointState.Done).Take(50).ToList();
        foreach (var c in rows)
        {
            string color = c.State switch { CheckpointState.Done => "green", CheckpointState.Failed => "red", CheckpointState.Cancelled => "grey", _ => "yellow" };
            table.AddRow(Markup.Escape(c.Id), $"[{color}]{c.State.Name()}[/]", $"{c.ImagesDone}/{c.ImagesPlanned}", c.Extracted.ToString(CultureInfo.InvariantCulture),
                c.Hits.ToString(CultureInfo.InvariantCulture), c.AverageSimilarity?.ToString("F3", CultureInfo.InvariantCulture) ?? "", Markup.Escape(c.Reason ?? ""));
        }
        if (!all && checkpoints.Count(c => c.State == CheckpointState.Done) is > 0 and var done)
            table.Caption($"{done} done checkpoints not listed (--all lists them)");
        return table;
    }
}
