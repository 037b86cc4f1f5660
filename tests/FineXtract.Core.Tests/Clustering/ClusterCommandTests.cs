using System.Text.Json;
using FineXtract.Extraction.Clustering;
using FineXtract.Checkpoints;
using FineXtract.Tests.Cli;
using TorchSharp;

namespace FineXtract.Tests.Clustering;

public class ClusterCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fx-cluster-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string Write(params (string Name, float[][] Rows)[] tensors)
    {
        var path = Path.Combine(_dir, $"{Guid.NewGuid():N}.safetensors");
        var dict = tensors.ToDictionary(t => t.Name, t => torch.tensor(t.Rows.SelectMany(r => r).ToArray(), [t.Rows.Length, t.Rows[0].Length]));
        SafeTensorsWriter.Write(path, dict);
        foreach (var t in dict.Values) t.Dispose();
        return path;
    }

    [Fact]
    public async Task PrintsTheClusteringAsJson()
    {
        var (vectors, groups, reps) = PlantedEmbeddings.Build();
        var path = Write(("feats", vectors)); // the only 2-D float tensor

        var (code, stdout, stderr) = await CliHarness.RunAsync("cluster", "--embeddings", path, "--expect", "5");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal(0.48, root.GetProperty("threshold").GetDouble());
        Assert.Equal(0.49, root.GetProperty("officialThresholdLabel").GetDouble());
        Assert.Equal("0.49_1", root.GetProperty("officialDirectory").GetString());
        Assert.Equal("faithful", root.GetProperty("mode").GetString());
        Assert.Equal(15, root.GetProperty("m").GetInt32());
        Assert.Equal(2, root.GetProperty("rounds").GetInt32());
        Assert.Equal(15, root.GetProperty("selected").GetArrayLength());
        Assert.Equal("enumeration", root.GetProperty("budgetModel").GetString());
        Assert.Equal(CliqueClusteringOptions.DefaultWorkBudget, root.GetProperty("workBudget").GetInt64());
        var clusters = root.GetProperty("clusters").EnumerateArray().ToList();
        for (int g = 0; g < groups.Length; g++)
        {
            Assert.Equal(groups[g], clusters[g].GetProperty("members").EnumerateArray().Select(e => e.GetInt32()));
            Assert.Equal(reps[g], clusters[g].GetProperty("representative").GetInt32());
        }

        (code, stdout, stderr) = await CliHarness.RunAsync("cluster", "--embeddings", path, "--expect", "5", "--select", "exact-n", "--budget", "0");
        Assert.True(code == 0, stderr);
        using var exact = JsonDocument.Parse(stdout);
        Assert.Equal("exact-n", exact.RootElement.GetProperty("mode").GetString());
        Assert.Equal(reps, exact.RootElement.GetProperty("selected").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(JsonValueKind.Null, exact.RootElement.GetProperty("workBudget").ValueKind);

        (code, stdout, stderr) = await CliHarness.RunAsync("cluster", "--embeddings", path, "--expect", "5", "--budget-model", "search");
        Assert.True(code == 0, stderr);
        using var search = JsonDocument.Parse(stdout);
        Assert.Equal("search", search.RootElement.GetProperty("budgetModel").GetString());
        Assert.Equal(CliqueClusteringOptions.DefaultSearchNodeBudget, search.RootElement.GetProperty("workBudget").GetInt64());
        Assert.Equal(reps, search.RootElement.GetProperty("clusters").EnumerateArray().Take(groups.Length).Select(c => c.GetProperty("representative").GetInt32()));
    }

    [Fact]
    public async Task ChoosesTheEmbeddingsTensorByNameOrOption()
    {
        var (vectors, _, _) = PlantedEmbeddings.Build();
        var path = Write(("embeddings", vectors), ("other", vectors[..6]));
        var (code, stdout, stderr) = await CliHarness.RunAsync("cluster", "--embeddings", path, "--expect", "5");
        Assert.True(code == 0, stderr);
        Assert.Equal(15, JsonDocument.Parse(stdout).RootElement.GetProperty("m").GetInt32());

        (code, stdout, stderr) = await CliHarness.RunAsync("cluster", "--embeddings", path, "--tensor", "other", "--expect", "2");
        Assert.True(code == 0, stderr);
        Assert.Equal(6, JsonDocument.Parse(stdout).RootElement.GetProperty("clusters").EnumerateArray().Sum(c => c.GetProperty("size").GetInt32()));
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("not-2d")]
    [InlineData("ambiguous")]
    [InlineData("no-such-tensor")]
    [InlineData("too-few")]
    [InlineData("nan")]
    [InlineData("negative-budget")]
    public async Task BadInputGivesOneLineAndExitCode2(string kind)
    {
        var (vectors, _, _) = PlantedEmbeddings.Build();
        string path = Write(("embeddings", vectors));
        var extra = new List<string>();
        switch (kind)
        {
            case "missing": path = Path.Combine(_dir, "nope.safetensors"); break;
            case "not-2d":
            {
                path = Path.Combine(_dir, "3d.safetensors");
                using var t = torch.zeros(2, 3, 4);
                SafeTensorsWriter.Write(path, new Dictionary<string, torch.Tensor> { ["embeddings"] = t });
                break;
            }
            case "ambiguous": path = Write(("a", vectors), ("b", vectors)); break;
            case "no-such-tensor": extra.AddRange(["--tensor", "x"]); break;
            case "too-few": extra.AddRange(["--expect", "100"]); break;
            case "nan":
                vectors[3][0] = float.NaN;
                path = Write(("embeddings", vectors));
                break;
            case "negative-budget": extra.AddRange(["--budget", "-5"]); break;
        }
        var (code, stdout, stderr) = await CliHarness.RunAsync(["cluster", "--embeddings", path, .. extra]);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.StartsWith("error: ", stderr);
    }

    [Fact]
    public async Task BenchCliqueRunsOnASmallCase()
    {
        var (code, stdout, stderr) = await CliHarness.RunAsync("bench", "clique", "--n", "150", "--dim", "64", "--seed", "1", "--budget", "5000");
        Assert.True(code == 0, stderr);
        var lines = stdout.Trim().Split('\n');
        Assert.Equal(4, lines.Length);
        Assert.StartsWith("    150", lines[3]);
    }
}

public class ClusterImagesCommandTests
{
    [Fact]
    public async Task ClustersAFolderOfImagesByFileName()
    {
        var dir = Directory.CreateTempSubdirectory("fx-cluster-images-").FullName;
        try
        {
            // Two near-copies of one photo and one other photo: the copies share a clique.
            var dog = Path.Combine(Fixtures.Data, "dreambooth", "dog");
            File.Copy(Path.Combine(dog, "00.jpg"), Path.Combine(dir, "a.jpg"));
            File.Copy(Path.Combine(dog, "00.jpg"), Path.Combine(dir, "b.jpg"));
            File.Copy(Path.Combine(Fixtures.Data, "dreambooth", "cat", "00.jpg"), Path.Combine(dir, "c.jpg"));
            var (code, stdout, stderr) = await FineXtract.Tests.Cli.CliHarness.RunAsync("cluster", "--images", dir, "--expect", "2", "--select", "exact-n");
            Assert.True(code == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            var clusters = doc.RootElement.GetProperty("clusters");
            Assert.Equal(2, clusters[0].GetProperty("size").GetInt32());
            Assert.Contains(clusters[0].GetProperty("representativeName").GetString(), new[] { "a.jpg", "b.jpg" });
            Assert.Contains("not SSCD", stderr);
            var (both, _, err) = await FineXtract.Tests.Cli.CliHarness.RunAsync("cluster", "--images", dir, "--embeddings", "x.safetensors");
            Assert.Equal(2, both);
            Assert.Contains("exactly one of", err);
        }
        finally { Directory.Delete(dir, true); }
    }
}
