using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace FineXtract.Deploy.Tests;

/// <summary>
/// The Grafana dashboard and the KEDA trigger query only metrics a real silo exports (a scrape after a tiny campaign);
/// the dashboard is well-formed Grafana JSON on a ${datasource} variable and the chart provisions it for the sidecar.
/// </summary>
public sealed partial class DashboardTests(SiloScrape silo) : IClassFixture<SiloScrape>
{
    private static readonly string DashboardFile = Path.Combine(DeployTools.Chart, "dashboards", "finextract.json");

    private static JsonElement Dashboard() => JsonDocument.Parse(File.ReadAllText(DashboardFile)).RootElement;

    private static IEnumerable<JsonElement> Panels() =>
        Dashboard().GetProperty("panels").EnumerateArray().Where(p => p.GetProperty("type").GetString() != "row");

    private static IEnumerable<string> Queries() => Panels()
        .SelectMany(p => p.GetProperty("targets").EnumerateArray())
        .Select(t => t.GetProperty("expr").GetString()!);

    private static readonly HashSet<string> PromQlWords = ["by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"];

    [GeneratedRegex("\"[^\"]*\"")] private static partial Regex Strings();
    [GeneratedRegex(@"\{[^}]*\}")] private static partial Regex LabelMatchers();
    [GeneratedRegex(@"\[[^\]]*\]")] private static partial Regex Ranges();
    [GeneratedRegex(@"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")] private static partial Regex Groupings();
    [GeneratedRegex(@"(?<![\w$.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?")] private static partial Regex Identifiers();
    [GeneratedRegex(@"label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,")] private static partial Regex LabelValuesMetric();

    /// <summary>Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or durations.</summary>
    public static HashSet<string> MetricNames(string expr)
    {
        string s = Groupings().Replace(Ranges().Replace(LabelMatchers().Replace(Strings().Replace(expr, "\"\""), " "), " "), " ");
        return
        [
            .. Identifiers().Matches(s).Where(m => !m.Groups[2].Success && !PromQlWords.Contains(m.Groups[1].Value)).Select(m => m.Groups[1].Value),
        ];
    }

    [Fact]
    public void TheMetricNameExtractorFindsMetricsAndSkipsPromQl()
    {
        Assert.Equal(["a_total", "b_bucket"], MetricNames(
            "sum by (instance) (rate(a_total{namespace=~\"$namespace\", le=\"0.5\"}[$__rate_interval])) / on (pod) histogram_quantile(0.9, b_bucket[5m]) * 60")
            .Order());
    }

    [Fact]
    public void EveryQueriedMetricIsExportedByARealSilo()
    {
        // The campaign ran: every instrument the dashboard reads has had a sample.
        Assert.Equal("completed", silo.Campaign.GetProperty("state").GetString());
        Assert.True(silo.Campaign.GetProperty("hits").GetInt32() > 0, silo.Campaign.ToString());
        Assert.True(silo.Campaign.GetProperty("evaluationsSavedByEarlyStop").GetInt64() > 0, silo.Campaign.ToString());
        var exported = silo.SampleNames();

        var used = Queries().SelectMany(MetricNames).ToHashSet();
        foreach (var variable in Dashboard().GetProperty("templating").GetProperty("list").EnumerateArray())
            if (variable.TryGetProperty("definition", out var definition))
                used.Add(LabelValuesMetric().Match(definition.GetString()!).Groups[1].Value);
        // The panels the issue asks for are there.
        foreach (var family in new[]
                 {
                     "finextract_checkpoints_done_total", "finextract_checkpoints_failed_total", "finextract_audits_running",
                     "finextract_sampler_images_total", "finextract_sampler_unet_evaluations_total", "finextract_sampler_batches_queued",
                     "finextract_early_stop_evaluations_saved_total", "finextract_extraction_hits_total", "orleans_catalog_activations",
                     "orleans_app_requests_latency_milliseconds_bucket", "dotnet_process_memory_working_set_bytes",
                 })
            Assert.Contains(family, used);
        var missing = used.Where(name => !exported.Contains(name)).ToList();
        Assert.True(missing.Count == 0, $"not in a real /metrics scrape: {string.Join(", ", missing)}");
    }

    [Fact]
    public void TheKedaTriggerQueriesExportedMetrics()
    {
        var objects = DeployTools.Objects(DeployTools.Template(Path.Combine(DeployTools.Chart, "ci", "gpu-values.yaml")));
        var trigger = objects.OfKind("ScaledObject").Single().GetProperty("spec").GetProperty("triggers")[0];
        Assert.Equal("prometheus", trigger.GetProperty("type").GetString());
        var names = MetricNames(trigger.GetProperty("metadata").GetProperty("query").GetString()!);
        Assert.Contains("finextract_sampler_batches_queued", names);
        Assert.All(names, name => Assert.Contains(name, silo.SampleNames()));
    }

    [Fact]
    public async Task TheChartsProbePathsAnswerOnARealSilo()
    {
        var silos = DeployTools.Objects(DeployTools.Template()).OfKind("Deployment").Select(d => d.Container("silo")).ToList();
        Assert.Equal(2, silos.Count);
        foreach (var probe in silos.SelectMany(s => new[] { "startupProbe", "livenessProbe", "readinessProbe" }.Select(p => s.GetProperty(p))))
        {
            string path = probe.GetProperty("httpGet").GetProperty("path").GetString()!;
            Assert.Equal(HttpStatusCode.OK, (await silo.Http.GetAsync(path)).StatusCode);
        }
        Assert.Equal(HttpStatusCode.NotFound, (await silo.Http.GetAsync("/health/ready")).StatusCode);
    }

    [Fact]
    public void TheDashboardIsGrafanaJsonOnADatasourceVariable()
    {
        var dashboard = Dashboard();
        Assert.False(string.IsNullOrWhiteSpace(dashboard.GetProperty("title").GetString()));
        Assert.Matches("^[a-z0-9-]{1,40}$", dashboard.GetProperty("uid").GetString()!);
        Assert.True(dashboard.GetProperty("schemaVersion").GetInt32() >= 36);
        var variables = dashboard.GetProperty("templating").GetProperty("list").EnumerateArray().ToList();
        var datasource = variables.Single(v => v.GetProperty("name").GetString() == "datasource");
        Assert.Equal("datasource", datasource.GetProperty("type").GetString());
        Assert.Equal("prometheus", datasource.GetProperty("query").GetString());

        var all = dashboard.GetProperty("panels").EnumerateArray().ToList();
        Assert.Equal(all.Count, all.Select(p => p.GetProperty("id").GetInt32()).Distinct().Count());
        var cells = new HashSet<(int, int)>();
        foreach (var panel in all)
        {
            var grid = panel.GetProperty("gridPos");
            int x = grid.GetProperty("x").GetInt32(), y = grid.GetProperty("y").GetInt32(), w = grid.GetProperty("w").GetInt32(), h = grid.GetProperty("h").GetInt32();
            Assert.True(x >= 0 && w > 0 && h > 0 && x + w <= 24, $"panel {panel.GetProperty("title")} is off the 24-column grid");
            for (int i = x; i < x + w; i++)
            for (int j = y; j < y + h; j++)
                Assert.True(cells.Add((i, j)), $"panel {panel.GetProperty("title")} overlaps another at ({i}, {j})");
        }
        foreach (var panel in Panels())
        {
            Assert.Contains(panel.GetProperty("type").GetString(), new[] { "timeseries", "stat", "gauge", "bargauge", "table" });
            Assert.Equal("${datasource}", panel.GetProperty("datasource").GetProperty("uid").GetString());
            var targets = panel.GetProperty("targets").EnumerateArray().ToList();
            Assert.NotEmpty(targets);
            Assert.Equal(targets.Count, targets.Select(t => t.GetProperty("refId").GetString()).Distinct().Count());
            foreach (var target in targets)
            {
                Assert.Equal("${datasource}", target.GetProperty("datasource").GetProperty("uid").GetString());
                Assert.NotEmpty(MetricNames(target.GetProperty("expr").GetString()!));
            }
        }
    }

    [Fact]
    public void TheChartProvisionsTheDashboardForTheGrafanaSidecar()
    {
        var configMap = DeployTools.Objects(DeployTools.Template()).Single("ConfigMap", "fx-finextract-dashboard");
        Assert.Equal("1", configMap.GetProperty("metadata").GetProperty("labels").GetProperty("grafana_dashboard").GetString());
        string embedded = configMap.GetProperty("data").GetProperty("finextract.json").GetString()!;
        Assert.Equal(File.ReadAllText(DashboardFile).Trim(), embedded.Trim());
    }
}
