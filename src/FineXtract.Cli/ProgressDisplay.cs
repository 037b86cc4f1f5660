using System.CommandLine;
using FineXtract.Extraction.Pipeline;
using Spectre.Console;

namespace FineXtract.Cli;

/// <summary>
/// Shows an extraction's progress: a Spectre.Console bar (images done, UNet evals/s, ETA) on an interactive terminal,
/// plain lines every ~10 % otherwise (logs, CI). Runs the work off the console thread so Ctrl-C can cancel it.
/// </summary>
public static class ProgressDisplay
{
    public static Task<T> RunAsync<T>(ParseResult parse, string title, Func<IProgress<ExtractionProgress>, CancellationToken, T> work, CancellationToken cancel) =>
        RunAsync(parse, title, (p, c) => Task.FromResult(work(p, c)), cancel);

    public static async Task<T> RunAsync<T>(ParseResult parse, string title, Func<IProgress<ExtractionProgress>, CancellationToken, Task<T>> work, CancellationToken cancel)
    {
        var error = parse.InvocationConfiguration.Error;
        bool interactive = ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        if (!interactive)
        {
            int lastDecile = -1;
            string lastPhase = "";
            var plain = new Progress<ExtractionProgress>(p =>
            {
                int decile = p.ImagesTotal == 0 ? 0 : 10 * p.ImagesDone / p.ImagesTotal;
                if (p.Phase == lastPhase && decile == lastDecile) return;
                lastPhase = p.Phase;
                lastDecile = decile;
                string rate = p.UNetEvaluationsPerSecond > 0 ? $", {p.UNetEvaluationsPerSecond:F1} UNet evals/s" : "";
                string eta = p.Remaining is { } r && r > TimeSpan.Zero ? $", ETA {r:hh\\:mm\\:ss}" : "";
                error.WriteLine($"{title}: {p.Phase} {p.ImagesDone}/{p.ImagesTotal}{rate}{eta}");
            });
            return await Task.Run(() => work(plain, cancel), CancellationToken.None);
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask(title);
                var bar = new Progress<ExtractionProgress>(p =>
                {
                    task.MaxValue = Math.Max(1, p.ImagesTotal);
                    task.Value = p.ImagesDone;
                    string rate = p.UNetEvaluationsPerSecond > 0 ? $" [grey]{p.UNetEvaluationsPerSecond:F1} UNet evals/s[/]" : "";
                    task.Description = $"{Markup.Escape(p.Phase)} {p.ImagesDone}/{p.ImagesTotal}{rate}";
                });
                result = await Task.Run(() => work(bar, cancel), CancellationToken.None);
                task.StopTask();
            });
        return result;
    }
}
