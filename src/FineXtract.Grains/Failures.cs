namespace FineXtract.Grains;

/// <summary>
/// Tells a checkpoint's own problem (broken file, wrong base, bad hash: fail it with the reason) from an
/// infrastructure hiccup (a silo gone, a timeout, Redis restarting: retry).
/// </summary>
public static class Failures
{
    public static bool IsInfrastructure(Exception e)
    {
        e = Unwrap(e);
        if (e is FineXtractException) return false;
        if (e is TimeoutException or OrleansException or ObjectDisposedException or System.Net.Sockets.SocketException) return true;
        for (var t = e.GetType(); t is not null; t = t.BaseType)
            if (t.FullName is { } n && (n.Contains("Redis", StringComparison.Ordinal) || n.StartsWith("Orleans.", StringComparison.Ordinal))) return true;
        return false;
    }

    public static string Reason(Exception e)
    {
        e = Unwrap(e);
        string message = e.Message.ReplaceLineEndings(" ").Trim();
        return e is FineXtractException ? message : $"{e.GetType().Name}: {message}";
    }

    private static Exception Unwrap(Exception e) =>
        e is AggregateException { InnerExceptions.Count: 1 } a ? Unwrap(a.InnerException!) : e;
}
