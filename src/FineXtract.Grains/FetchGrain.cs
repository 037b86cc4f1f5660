using System.Security.Cryptography;
using System.Text;
using FineXtract.Extraction.Evidence;

namespace FineXtract.Grains;

/// <summary>
/// Downloads one URL (the grain key) into the content-addressed cache: <c>cache/sha256/&lt;hex&gt;/&lt;file name&gt;</c>, with
/// <c>cache/urls/&lt;sha256(url)&gt;</c> pointing at it. Partial downloads resume with an HTTP range request; a size
/// cap stops oversized files; an expected SHA-256 is checked. One activation per URL serialises the callers, so a
/// base shared by thousands of LoRAs is fetched once.
/// </summary>
public sealed class FetchGrain : Grain, IFetchGrain
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    public Task<string> Fetch(string cacheFolder, string? expectedSha256, long maxBytes)
    {
        string url = this.GetPrimaryKeyString();
        return Task.Run(() => FetchAsync(url, cacheFolder, expectedSha256, maxBytes));
    }

    internal static async Task<string> FetchAsync(string url, string cacheFolder, string? expectedSha256, long maxBytes, CancellationToken cancel = default)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new FineXtractException($"{url}: not an http(s) URL");
        expectedSha256 = expectedSha256?.Trim().ToLowerInvariant();
        string urlKey = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(url)));
        string pointer = Path.Combine(cacheFolder, "urls", urlKey);
        if (File.Exists(pointer))
        {
            string cached = (await File.ReadAllTextAsync(pointer, cancel)).Trim();
            if (File.Exists(cached) && (expectedSha256 is null || Path.GetFileName(Path.GetDirectoryName(cached)) == expectedSha256)) return cached;
        }

        string name = SafeName(Uri.UnescapeDataString(uri.Segments.LastOrDefault() ?? "")) is { Length: > 0 } n ? n : "download.safetensors";
        string partial = Path.Combine(cacheFolder, "partial", urlKey + ".part");
        Directory.CreateDirectory(Path.GetDirectoryName(partial)!);
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await DownloadAsync(uri, partial, maxBytes, cancel);
                break;
            }
            catch (Exception e) when (attempt < 4 && e is HttpRequestException { StatusCode: null or >= System.Net.HttpStatusCode.InternalServerError } or IOException)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250 * attempt), cancel);
            }
        }

        string sha = InputHashing.Sha256(partial);
        if (expectedSha256 is not null && sha != expectedSha256)
        {
            File.Delete(partial);
            throw new FineXtractException($"{url}: SHA-256 mismatch (expected {expectedSha256}, got {sha})");
        }
        string final = Path.Combine(cacheFolder, "sha256", sha, name);
        Directory.CreateDirectory(Path.GetDirectoryName(final)!);
        if (File.Exists(final)) File.Delete(partial);
        else File.Move(partial, final);
        Directory.CreateDirectory(Path.GetDirectoryName(pointer)!);
        await File.WriteAllTextAsync(pointer, final, cancel);
        return final;
    }

    private static async Task DownloadAsync(Uri uri, string partial, long maxBytes, CancellationToken cancel)
    {
        long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (have > 0) request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(have, null);
        using var response = await Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel);
        if (response.StatusCode == System.Net.HttpStatusCode.RequestedRangeNotSatisfiable && have > 0)
            return; // we already have all of it
        if (!response.IsSuccessStatusCode)
        {
            if ((int)response.StatusCode >= 500) throw new HttpRequestException($"{uri}: HTTP {(int)response.StatusCode}", null, response.StatusCode);
            throw new FineXtractException($"{uri}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        bool resumed = response.StatusCode == System.Net.HttpStatusCode.PartialContent;
        if (!resumed) have = 0;
        long? total = response.Content.Headers.ContentLength is { } length ? length + have : null;
        if (total > maxBytes) throw new FineXtractException($"{uri}: {total} bytes, more than the {maxBytes}-byte cap");
        await using var source = await response.Content.ReadAsStreamAsync(cancel);
        await using var target = new FileStream(partial, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write);
        var buffer = new byte[1 << 20];
        int n;
        while ((n = await source.ReadAsync(buffer, cancel)) > 0)
        {
            have += n;
            if (have > maxBytes)
            {
                target.Close();
                File.Delete(partial);
                throw new FineXtractException($"{uri}: more than the {maxBytes}-byte cap");
            }
            await target.WriteAsync(buffer.AsMemory(0, n), cancel);
        }
        if (total is { } t && have < t) throw new IOException($"{uri}: connection closed after {have} of {t} bytes");
    }

    private static string SafeName(string s) => new([.. s.Where(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')]);
}

/// <summary>Resolves a manifest URI to a local path: plain paths and file:// URIs as they are, http(s) through the fetch grain.</summary>
public static class Uris
{
    public static bool IsRemote(string uri) =>
        uri.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || uri.StartsWith("https://", StringComparison.OrdinalIgnoreCase);

    public static string LocalPath(string uri) =>
        uri.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? new Uri(uri).LocalPath : uri;
}
