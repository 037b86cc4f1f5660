using System.CommandLine;
using FineXtract;

namespace FineXtract.Cli;

/// <summary>
/// Runs the command line: user errors (bad files, bad options) become one line on stderr and exit code 2;
/// anything unexpected is a bug and says so, still without a stack trace unless FINEXTRACT_DEBUG=1.
/// </summary>
public static class CliRunner
{
    public const int UserError = 2;
    public const int InternalError = 3;

    public static async Task<int> RunAsync(RootCommand root, string[] args, TextWriter? stdout = null, TextWriter? stderr = null)
    {
        var config = new InvocationConfiguration { EnableDefaultExceptionHandler = false };
        if (stdout is not null) config.Output = stdout;
        if (stderr is not null) config.Error = stderr;
        var err = stderr ?? Console.Error;
        try
        {
            return await root.Parse(args).InvokeAsync(config);
        }
        catch (Exception e) when (Unwrap(e) is FineXtractException or IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            var inner = Unwrap(e);
            err.WriteLine(inner is OperationCanceledException ? "error: cancelled" : $"error: {OneLine(inner.Message)}");
            return UserError;
        }
        catch (Exception e)
        {
            var inner = Unwrap(e);
            err.WriteLine($"internal error ({inner.GetType().Name}): {OneLine(inner.Message)}");
            if (Environment.GetEnvironmentVariable("FINEXTRACT_DEBUG") == "1") err.WriteLine(inner);
            return InternalError;
        }
    }

    private static Exception Unwrap(Exception e) =>
        e is AggregateException { InnerExceptions.Count: 1 } a ? Unwrap(a.InnerException!)
        : e is System.Reflection.TargetInvocationException { InnerException: { } t } ? Unwrap(t)
        : e;

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}
