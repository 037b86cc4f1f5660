using System.CommandLine;
using System.Runtime.InteropServices;
using FineXtract.Training;
using Spectre.Console;

namespace FineXtract.Cli;

/// <summary>
/// Runs a training job with progress on stderr: a Spectre.Console bar (step, loss, steps/s, ETA) on an interactive
/// terminal, plain lines every <c>--log-every</c> steps otherwise (logs, background runs). Ctrl-C (SIGINT) and SIGTERM
/// cancel the run at the next step boundary; the trainer then saves a resumable checkpoint. A second Ctrl-C kills.
/// </summary>
public static class TrainingDisplay
{
    public delegate TrainingResult Job(Action<TrainingProgress> progress, Action<string> log, CancellationToken cancel);

    public static TrainingResult Run(ParseResult parse, string title, int logEvery, Job job)
    {
        var error = parse.InvocationConfiguration.Error;
        using var cts = new CancellationTokenSource();
        var registrations = new List<PosixSignalRegistration>();
        if (ReferenceEquals(error, Console.Error))
        {
            foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
                registrations.Add(PosixSignalRegistration.Create(signal, ctx =>
                {
                    if (cts.IsCancellationRequested) return; // second signal: default handling (terminate)
                    ctx.Cancel = true;
                    error.WriteLine($"{title}: stopping after this step and saving a checkpoint (press Ctrl-C again to kill)");
                    cts.Cancel();
                }));
        }
        try
        {
            bool interactive = ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected && AnsiConsole.Profile.Capabilities.Interactive;
            if (!interactive)
            {
                return job(p =>
                {
                    if (p.Step % Math.Max(1, logEvery) == 0 || p.Step == p.TotalSteps || p.Step == 1) error.WriteLine($"{title}: {p.Describe()}");
                }, message => error.WriteLine($"{title}: {message}"), cts.Token);
            }

            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
            TrainingResult result = null!;
            console.Progress()
                .AutoClear(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                    new RemainingTimeColumn(), new SpinnerColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask(title, autoStart: true);
                    result = job(p =>
                    {
                        task.MaxValue = p.TotalSteps;
                        task.Value = p.Step;
                        task.Description = $"{Markup.Escape(title)} {p.Step}/{p.TotalSteps} loss {p.SmoothedLoss:F4} [grey]{p.StepsPerSecond:F2} steps/s[/]";
                    }, message => console.MarkupLine($"[grey]{Markup.Escape(title)}: {Markup.Escape(message)}[/]"), cts.Token);
                    task.StopTask();
                });
            return result;
        }
        finally
        {
            foreach (var r in registrations) r.Dispose();
        }
    }

    /// <summary>The last lines of a run: where the result is, or how to resume. Returns the exit code.</summary>
    public static int Finish(ParseResult parse, TrainingResult result, string output, string? resumeHint = null)
    {
        var stdout = parse.InvocationConfiguration.Output;
        var stderr = parse.InvocationConfiguration.Error;
        if (result.Outcome == TrainingOutcome.Cancelled)
        {
            stderr.WriteLine($"cancelled at step {result.Step}; checkpoint saved to {result.LastCheckpoint}");
            stderr.WriteLine($"rerun the same command with --resume to continue{resumeHint}");
            return Commands.TrainCommand.CancelledExitCode;
        }
        int tail = Math.Max(1, Math.Min(100, result.Losses.Count / 10));
        string loss = result.Losses.Count == 0 ? "n/a" : result.Losses.Skip(result.Losses.Count - tail).Average().ToString("F4");
        double mb = ModelWriters.SizeOnDisk(output) / 1e6;
        stdout.WriteLine($"trained {result.Step} steps (this run {result.Step - result.StartStep}), final loss {loss}; wrote {output} ({mb:F1} MB)");
        return 0;
    }
}
