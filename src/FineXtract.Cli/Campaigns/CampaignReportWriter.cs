using System.Net;
using System.Text;
using System.Text.Json;
using FineXtract.Extraction.Evidence;
using FineXtract.Grains;

namespace FineXtract.Cli.Campaigns;

/// <summary>
/// <c>campaign report ID --out DIR</c>: every checkpoint's evidence (results.json, report.html, extracted images),
/// fetched through the campaign grain, plus <c>index.json</c> and an <c>index.html</c> page linking them.
/// </summary>
public static class CampaignReportWriter
{
    public static async Task<int> WriteAsync(ICampaignGrain campaign, CampaignReport report, string output, CancellationToken cancel)
    {
        Directory.CreateDirectory(output);
        int bundles = 0;
        foreach (var c in report.Checkpoints.Where(c => c.State is CheckpointState.Done or CheckpointState.Cancelled))
        {
            cancel.ThrowIfCancellationRequested();
            var json = await campaign.ReadEvidenceFile(c.Id, EvidenceBuilder.ResultsFile);
            if (json is null) continue;
            string folder = Path.Combine(output, c.Id);
            Directory.CreateDirectory(Path.Combine(folder, EvidenceBuilder.ExtractedFolder));
            await File.WriteAllBytesAsync(Path.Combine(folder, EvidenceBuilder.ResultsFile), json, cancel);
            if (await campaign.ReadEvidenceFile(c.Id, EvidenceBuilder.ReportFile) is { } html)
                await File.WriteAllBytesAsync(Path.Combine(folder, EvidenceBuilder.ReportFile), html, cancel);
            var results = ResultsJson.Read(Path.Combine(folder, EvidenceBuilder.ResultsFile));
            foreach (var x in results.Extracted)
                if (await campaign.ReadEvidenceFile(c.Id, x.File) is { } png)
                    await File.WriteAllBytesAsync(Path.Combine(folder, x.File), png, cancel);
            bundles++;
        }
        await File.WriteAllTextAsync(Path.Combine(output, "index.json"), JsonSerializer.Serialize(report, JsonDefaults.Output), cancel);
        await File.WriteAllTextAsync(Path.Combine(output, "index.html"), IndexPage(report, output), cancel);
        return bundles;
    }

    private static string IndexPage(CampaignReport report, string output)
    {
        static string H(string? s) => WebUtility.HtmlEncode(s ?? "");
        var s = report.Status;
        var html = new StringBuilder();
        html.Append("<!doctype html><meta charset=\"utf-8\"><title>FineXtract campaign ").Append(H(s.Id)).Append("</title>");
        html.Append("<style>body{font:14px system-ui;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
            + ".failed{color:#a00}.done{color:#070}img{height:64px;margin-right:4px}</style>");
        html.Append($"<h1>Campaign {H(s.Id)}</h1><p>{H(s.Name)} — {H(s.State.ToString().ToLowerInvariant())}, {s.Total} checkpoints: ");
        html.Append(string.Join(", ", s.Counts.Where(c => c.Value > 0).Select(c => $"{c.Value} {H(c.Key)}")));
        html.Append($". {s.ImagesGenerated} images, {s.UNetEvaluations} UNet evaluations ({s.EvaluationsSavedByEarlyStop} saved by early stop), ");
        html.Append($"{s.Hits} extraction hits, {report.Shared.Count} shared images.</p>");
        html.Append("<table><tr><th>checkpoint</th><th>state</th><th>images</th><th>extracted</th><th>hits</th><th>AS</th><th>reason / evidence</th></tr>");
        foreach (var c in report.Checkpoints)
        {
            string state = c.State.Name();
            html.Append($"<tr><td>{H(c.Id)}</td><td class=\"{state}\">{state}</td><td>{c.ImagesDone}/{c.ImagesPlanned}</td><td>{c.Extracted}</td><td>{c.Hits}</td>");
            html.Append($"<td>{(c.AverageSimilarity is { } a ? a.ToString("F3", System.Globalization.CultureInfo.InvariantCulture) : "")}</td><td>");
            string report_ = Path.Combine(output, c.Id, EvidenceBuilder.ReportFile);
            if (File.Exists(report_))
            {
                html.Append($"<a href=\"{H(c.Id)}/{EvidenceBuilder.ReportFile}\">report</a> ");
                foreach (var png in Directory.EnumerateFiles(Path.Combine(output, c.Id, EvidenceBuilder.ExtractedFolder), "*.png").Order().Take(8))
                    html.Append($"<img src=\"{H(c.Id)}/{EvidenceBuilder.ExtractedFolder}/{H(Path.GetFileName(png))}\">");
            }
            else html.Append(H(c.Reason));
            html.Append("</td></tr>");
        }
        html.Append("</table>");
        if (report.Shared.Count > 0)
        {
            html.Append("<h2>Images shared by checkpoints</h2><table><tr><th>checkpoint</th><th>image</th><th>checkpoint</th><th>image</th><th>similarity</th></tr>");
            foreach (var x in report.Shared.OrderByDescending(x => x.Similarity).Take(1000))
                html.Append($"<tr><td>{H(x.CheckpointA)}</td><td>{x.ImageA}</td><td>{H(x.CheckpointB)}</td><td>{x.ImageB}</td><td>{x.Similarity:F4}</td></tr>");
            html.Append("</table>");
        }
        return html.ToString();
    }
}
