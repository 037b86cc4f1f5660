using System.Security.Cryptography;
using System.Text;
using FineXtract.Extraction.Evidence;

namespace FineXtract.Grains.Tests;

/// <summary>Downloads into the content-addressed cache: resume, size cap, hash check (a local server on 127.0.0.1).</summary>
public sealed class FetchTests : IDisposable
{
    private readonly string _cache = Directory.CreateTempSubdirectory("fx-fetch-").FullName;
    private readonly LocalFileServer _server = new();

    public void Dispose()
    {
        _server.Dispose();
        Directory.Delete(_cache, true);
    }

    [Fact]
    public async Task APartialDownloadResumesWithARangeRequest()
    {
        string lora = Fixtures.Path_("lora", "kohya_lora.safetensors");
        string url = _server.Serve("lora.safetensors", lora);
        string key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(url)));
        Directory.CreateDirectory(Path.Combine(_cache, "partial"));
        var bytes = await File.ReadAllBytesAsync(lora);
        await File.WriteAllBytesAsync(Path.Combine(_cache, "partial", key + ".part"), bytes[..1000]);

        string path = await FetchGrain.FetchAsync(url, _cache, InputHashing.Sha256(lora), long.MaxValue);
        Assert.Equal(bytes, await File.ReadAllBytesAsync(path));
        Assert.Equal(Path.Combine(_cache, "sha256", InputHashing.Sha256(lora), "lora.safetensors"), path);
        Assert.Equal(1, _server.Requests["/lora.safetensors"]);
        Assert.Equal(path, await FetchGrain.FetchAsync(url, _cache, null, long.MaxValue)); // from the cache
        Assert.Equal(1, _server.Requests["/lora.safetensors"]);
    }

    [Fact]
    public async Task OversizedFilesAndWrongHashesAreRefused()
    {
        string url = _server.Serve("big.safetensors", Fixtures.Path_("lora", "kohya_lora.safetensors"));
        var cap = await Assert.ThrowsAsync<FineXtractException>(() => FetchGrain.FetchAsync(url, _cache, null, 1000));
        Assert.Contains("cap", cap.Message);
        var hash = await Assert.ThrowsAsync<FineXtractException>(() => FetchGrain.FetchAsync(url, _cache, new string('a', 64), long.MaxValue));
        Assert.Contains("SHA-256 mismatch", hash.Message);
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_cache, "partial")));
    }
}
