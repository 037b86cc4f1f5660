namespace FineXtract.Tests;

/// <summary>Locates ../shared/fixtures/parity (the upstream reference outputs) from the test's working directory.</summary>
public static class Fixtures
{
    public static string Parity { get; } = Find(Path.Combine("shared", "fixtures", "parity"));
    public static string Data { get; } = Find(Path.Combine("shared", "data"));

    public static string Path_(params string[] parts) => Path.Combine([Parity, .. parts]);

    private static string Find(string relative)
    {
        var env = Environment.GetEnvironmentVariable("FINEXTRACT_SHARED");
        if (env is not null)
        {
            var p = Path.Combine(env, Path.GetRelativePath("shared", relative));
            if (Directory.Exists(p)) return p;
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            foreach (var candidate in new[] { Path.Combine(dir.FullName, relative), Path.Combine(dir.FullName, "..", relative) })
                if (Directory.Exists(candidate)) return Path.GetFullPath(candidate);
        }
        throw new DirectoryNotFoundException($"{relative} not found above {AppContext.BaseDirectory}; set FINEXTRACT_SHARED");
    }
}
