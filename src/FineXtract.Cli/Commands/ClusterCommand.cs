using System.CommandLine;
using System.Text.Json;
using FineXtract.Checkpoints;
using FineXtract.Extraction.Clustering;
using FineXtract.Extraction.Descriptors;
using FineXtract.Extraction.Imaging;
using TorchSharp;

namespace FineXtract.Cli.Commands;

/// <summary>
/// <c>finextract cluster</c>: FineXtract's clique clustering of sample embeddings (threshold sweep, greedy clique
/// partition, representatives) printed as JSON. Input today: a 2-D float tensor in a safetensors file; any other
/// source only has to produce <c>float[][]</c> (+ optional names) and call <see cref="Run"/>.
/// </summary>
public static class ClusterCommand
{
    public const string DefaultTensor = "embeddings";

    public static Command Create()
    {
        var defaults = new CliqueClusteringOptions();
        var embeddings = new Option<string?>("--embeddings") { Description = "Embeddings (.safetensors, one 2-D float tensor [samples, dim])" };
        var images = new Option<string?>("--images") { Description = "Folder of images to embed and cluster (instead of --embeddings)" };
        var descriptor = new DescriptorOptions();
        var tensor = new Option<string?>("--tensor") { Description = $"Tensor name (default: '{DefaultTensor}', else the only 2-D float tensor)" };
        var select = new Option<string>("--select") { DefaultValueFactory = _ => "faithful", Description = "faithful: all M >= N representatives (official code); exact-n: the N largest cliques" };
        select.AcceptOnlyFromAmong("faithful", "exact-n");
        var expect = new Option<int>("--expect") { DefaultValueFactory = _ => defaults.Expected, Description = "N, the number of training images (stop at >= N cliques)" };
        var model = BudgetModelOption();
        var budget = BudgetOption();
        var command = new Command("cluster", "Cluster sample embeddings into cliques and pick representatives (JSON on stdout)")
        {
            embeddings, images, tensor, select, expect, model, budget,
        };
        descriptor.AddTo(command);
        command.SetAction(parse =>
        {
            var options = defaults with
            {
                Expected = parse.GetValue(expect),
                Selection = parse.GetValue(select) == "exact-n" ? SelectionMode.ExactN : SelectionMode.Faithful,
                BudgetModel = ParseBudgetModel(parse.GetValue(model)!),
                WorkBudget = ParseBudget(parse.GetValue(budget)),
            };
            string? embeddingsFile = parse.GetValue(embeddings), imageFolder = parse.GetValue(images);
            if ((embeddingsFile is null) == (imageFolder is null))
                throw new FineXtractException("give exactly one of --embeddings FILE and --images DIR");
            if (imageFolder is not null)
            {
                var files = ImageIO.ListImages(imageFolder);
                if (files.Count == 0) throw new FineXtractException($"{imageFolder}: no images");
                using var d = descriptor.Create(parse);
                Run(d.EmbedFiles(files), files.Select(f => Path.GetFileName(f)).ToList(), options, parse.InvocationConfiguration.Output);
            }
            else
            {
                Run(LoadEmbeddings(embeddingsFile!, parse.GetValue(tensor)), null, options, parse.InvocationConfiguration.Output);
            }
            return 0;
        });
        return command;
    }

    /// <summary><c>--budget-model</c>, shared with <c>bench clique</c>.</summary>
    internal static Option<string> BudgetModelOption()
    {
        var option = new Option<string>("--budget-model")
        {
            DefaultValueFactory = _ => BudgetModelName(CliqueBudgetModel.MaximalCliqueEnumeration),
            Description = "What the per-round budget counts: enumeration = Bron-Kerbosch calls to enumerate all maximal cliques after every removal (the official networkx cost); search = exact maximum-clique search nodes",
        };
        option.AcceptOnlyFromAmong("enumeration", "search");
        return option;
    }

    /// <summary><c>--budget</c>, shared with <c>bench clique</c>; absent: the model's default.</summary>
    internal static Option<long?> BudgetOption() => new("--budget")
    {
        Description = $"Work per threshold round before it counts as timed out, in the model's units (0 = unlimited; default: {CliqueClusteringOptions.DefaultWorkBudget} calls for enumeration, {CliqueClusteringOptions.DefaultSearchNodeBudget} nodes for search)",
    };

    internal static CliqueBudgetModel ParseBudgetModel(string name) =>
        name == "search" ? CliqueBudgetModel.MaximumCliqueSearch : CliqueBudgetModel.MaximalCliqueEnumeration;

    internal static string BudgetModelName(CliqueBudgetModel model) =>
        model == CliqueBudgetModel.MaximumCliqueSearch ? "search" : "enumeration";

    /// <summary>null → the model's default; 0 → unlimited; negative → error.</summary>
    internal static long? ParseBudget(long? value) => value switch
    {
        null => null,
        < 0 => throw new FineXtractException($"--budget must be >= 0, got {value}"),
        0 => long.MaxValue,
        _ => value,
    };

    /// <summary>Rows of a 2-D float tensor: <paramref name="tensor"/>, else 'embeddings', else the only 2-D float tensor.</summary>
    public static float[][] LoadEmbeddings(string path, string? tensor)
    {
        using var file = SafeTensorsFile.Open(path);
        string name;
        if (tensor is not null)
        {
            name = tensor;
            if (!file.Tensors.ContainsKey(name))
                throw new FineXtractException($"{path}: no tensor named '{name}' (has: {string.Join(", ", file.Tensors.Keys.Order())})");
        }
        else if (file.Tensors.ContainsKey(DefaultTensor))
        {
            name = DefaultTensor;
        }
        else
        {
            var candidates = file.Tensors.Values.Where(t => t.Shape.Length == 2 && IsFloat(t.DType)).Select(t => t.Name).Order().ToList();
            name = candidates.Count == 1 ? candidates[0]
                : throw new FineXtractException(candidates.Count == 0
                    ? $"{path}: no 2-D float tensor found"
                    : $"{path}: several 2-D float tensors ({string.Join(", ", candidates)}); choose one with --tensor");
        }
        var info = file.Info(name);
        if (info.Shape.Length != 2)
            throw new FineXtractException($"{path}: tensor '{name}' has shape [{string.Join(", ", info.Shape)}], expected 2-D [samples, dim]");
        if (!IsFloat(info.DType))
            throw new FineXtractException($"{path}: tensor '{name}' has dtype {info.DType}, expected a float type");
        if (info.Shape[0] == 0 || info.Shape[1] == 0)
            throw new FineXtractException($"{path}: tensor '{name}' is empty (shape [{string.Join(", ", info.Shape)}])");
        using var t = file.Load(name, torch.ScalarType.Float32);
        var flat = t.contiguous().data<float>().ToArray();
        int rows = (int)info.Shape[0], dim = (int)info.Shape[1];
        var result = new float[rows][];
        for (int i = 0; i < rows; i++) result[i] = flat.AsSpan(i * dim, dim).ToArray();
        return result;
    }

    /// <summary>Clusters and writes the JSON report. <paramref name="names"/> (e.g. image files) are added when given.</summary>
    public static CliqueClusteringResult Run(float[][] embeddings, IReadOnlyList<string>? names, CliqueClusteringOptions options, TextWriter output)
    {
        if (names is not null && names.Count != embeddings.Length)
            throw new FineXtractException($"{names.Count} names for {embeddings.Length} embeddings");
        var result = CliqueClustering.Run(embeddings, options);
        output.WriteLine(ToJson(result, names));
        return result;
    }

    public static string ToJson(CliqueClusteringResult r, IReadOnlyList<string>? names)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteNumber("threshold", r.Threshold);
            json.WriteNumber("officialThresholdLabel", r.OfficialThresholdLabel);
            json.WriteString("officialDirectory", r.OfficialDirectoryName);
            json.WriteNumber("startQuantile", r.Options.StartQuantile);
            json.WriteNumber("startQuantileValue", r.StartQuantileValue);
            json.WriteNumber("startThreshold", r.StartThreshold);
            json.WriteNumber("expected", r.Options.Expected);
            json.WriteString("mode", r.Options.Selection == SelectionMode.ExactN ? "exact-n" : "faithful");
            json.WriteNumber("m", r.M);
            json.WriteNumber("rounds", r.Rounds);
            json.WriteNumber("budgetExceededRounds", r.BudgetExceededRounds);
            json.WriteNumber("totalWork", r.TotalWork);
            json.WriteString("budgetModel", BudgetModelName(r.Options.BudgetModel));
            if (r.Options.Budget == long.MaxValue) json.WriteNull("workBudget");
            else json.WriteNumber("workBudget", r.Options.Budget);
            json.WriteString("fingerprint", r.Fingerprint);
            json.WriteStartArray("selected");
            foreach (int s in r.Selected) json.WriteNumberValue(s);
            json.WriteEndArray();
            if (names is not null)
            {
                json.WriteStartArray("selectedNames");
                foreach (int s in r.Selected) json.WriteStringValue(names[s]);
                json.WriteEndArray();
            }
            json.WriteStartArray("roundLog");
            foreach (var round in r.RoundLog)
            {
                json.WriteStartObject();
                json.WriteNumber("threshold", round.Threshold);
                json.WriteBoolean("budgetExceeded", round.BudgetExceeded);
                json.WriteNumber("work", round.Work);
                if (round.Cliques is { } c) json.WriteNumber("cliques", c);
                else json.WriteNull("cliques");
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteStartArray("clusters");
            foreach (var c in r.Clusters)
            {
                json.WriteStartObject();
                json.WriteNumber("size", c.Size);
                json.WriteNumber("representative", c.Representative);
                if (names is not null) json.WriteString("representativeName", names[c.Representative]);
                json.WriteStartArray("members");
                foreach (int m in c.Members) json.WriteNumberValue(m);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    private static bool IsFloat(string dtype) => dtype is "F16" or "BF16" or "F32" or "F64" or "F8_E4M3" or "F8_E5M2";
}
