using System.Globalization;
using System.Net;
using System.Text;

namespace FineXtract.Extraction.Evidence;

/// <summary>
/// <c>report.html</c>: one self-contained page (images inlined) for a reader without ML background: what was audited,
/// each extracted image beside its most similar training image with the similarity, and how to reproduce it.
/// </summary>
public static class ReportWriter
{
    public static void Write(string path, ExtractionResults r, string outputFolder, string? referenceFolder)
    {
        var html = new StringBuilder();
        string H(string s) => WebUtility.HtmlEncode(s);
        string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
        string Pct(double v) => (v * 100).ToString("0", CultureInfo.InvariantCulture) + "%";
        string Img(string file, string alt) => File.Exists(file)
            ? $"<img src=\"data:image/{(file.EndsWith(".png", StringComparison.OrdinalIgnoreCase) ? "png" : "jpeg")};base64,{Convert.ToBase64String(File.ReadAllBytes(file))}\" alt=\"{H(alt)}\">"
            : $"<div class=\"missing\">{H(alt)} (file missing)</div>";
        string Verdict(double s) => s >= 0.7 ? "<span class=\"badge strong\">near-copy (≥ 0.70)</span>"
            : s >= 0.6 ? "<span class=\"badge medium\">strong resemblance (≥ 0.60)</span>"
            : s >= 0.5 ? "<span class=\"badge weak\">resemblance (≥ 0.50)</span>" : "<span class=\"badge none\">no match</span>";

        var audited = r.Inputs.FirstOrDefault(i => i.Role is "lora" or "finetuned");
        var p = r.Parameters;
        html.Append("""
            <!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>FineXtract evidence report</title>
            <style>
            body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222;line-height:1.45}
            h1{margin-bottom:.2rem} h2{border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
            .muted{color:#666} table{border-collapse:collapse} td,th{padding:.25rem .6rem;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
            .summary td:first-child{font-weight:600;white-space:nowrap}
            .warn{background:#fff4e5;border-left:4px solid #f0a020;padding:.6rem 1rem;margin:1rem 0}
            .pairs{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:1rem}
            .pair{border:1px solid #ddd;border-radius:8px;padding:.6rem}
            .pair .imgs{display:flex;gap:.5rem} .pair figure{margin:0;flex:1;text-align:center;font-size:.8rem}
            .pair img{width:100%;image-rendering:pixelated;border:1px solid #ccc}
            .badge{display:inline-block;border-radius:4px;padding:.05rem .4rem;font-size:.8rem;font-weight:600}
            .strong{background:#c62828;color:#fff}.medium{background:#ef6c00;color:#fff}.weak{background:#fdd835}.none{background:#e0e0e0}
            .metrics td{font-size:1.1rem} code{background:#f4f4f4;padding:0 .2rem;word-break:break-all}
            </style></head><body>
            """);
        html.Append("<h1>FineXtract evidence report</h1>");
        html.Append($"<p class=\"muted\">Generated {H(r.FinishedAt?.ToString("u") ?? "")} by {H(r.Tool.Name)} {H(r.Tool.Version)} — status: <b>{H(r.Status)}</b></p>");
        html.Append("<p>This page shows images recovered from a fine-tuned image-generation model. The model was made to draw many images while being steered towards "
            + "what it learned during fine-tuning (<i>model guidance</i>, Wu, Zhang &amp; Wu, ICML 2025); images that it draws again and again are grouped, and one image per group "
            + "is shown as an <b>extracted image</b>. When the true training images are known, each extracted image is placed next to the most similar one, with a similarity "
            + "score between −1 and 1 (1 = the same picture; 0.7 or more is treated as a near-copy in the research literature).</p>");
        if (r.Status != "completed")
            html.Append("<div class=\"warn\">The run was stopped before all images were generated; the results cover only the images generated until then.</div>");
        if (p.Descriptor.Warning is { } warning)
            html.Append($"<div class=\"warn\"><b>Descriptor:</b> {H(warning)}.</div>");

        html.Append("<h2>What was audited</h2><table class=\"summary\">");
        if (audited is not null)
            html.Append($"<tr><td>Fine-tuned model</td><td>{H(Path.GetFileName(audited.Path))}<br><span class=\"muted\">SHA-256 {H(audited.Files.Count == 1 ? audited.Files[0].Sha256 : $"{audited.Files.Count} files, listed below")}</span></td></tr>");
        var baseInput = r.Inputs.First(i => i.Role == "base");
        html.Append($"<tr><td>Base model</td><td>{H(Path.GetFileName(baseInput.Path))} ({H(r.BaseFamily)})</td></tr>");
        html.Append($"<tr><td>Kind</td><td>{H(r.FineTune.Kind == "lora" ? $"LoRA ({r.FineTune.LoraFormat} format, {r.FineTune.LoraModulesMerged} layers, scale {r.FineTune.LoraScale})" : "full fine-tune (DreamBooth-style)")}</td></tr>");
        html.Append($"<tr><td>Prompt</td><td>“{H(r.Prompt.Text)}” <span class=\"muted\">({H(r.Prompt.Source == "auto" ? "recovered blindly: " + r.Prompt.Reason : "given by the user")})</span></td></tr>");
        html.Append($"<tr><td>Method</td><td>{H(p.Method)} (guidance {F(p.GuidanceScale)}, fix term {F(p.FixTerm)}, {H(p.Variant)}), sampler {H(p.Sampler)} / {H(p.SchedulerClass)}, {p.Steps} steps, seed {p.Seed}</td></tr>");
        html.Append($"<tr><td>Images generated</td><td>{r.Generated.Count} of {p.Images} ({p.ImageSize}×{p.ImageSize} px), {r.Generated.UNetEvaluations:N0} model evaluations</td></tr>");
        if (r.Clustering is { } c)
            html.Append($"<tr><td>Grouping</td><td>{c.M} groups at similarity threshold {F(c.Threshold)}; {r.Extracted.Count} extracted ({H(c.Selection)} selection, expecting {p.Expected} training images)</td></tr>");
        html.Append($"<tr><td>Descriptor</td><td>{H(p.Descriptor.Name)}</td></tr></table>");

        if (r.Metrics is { } m)
        {
            html.Append("<h2>How much was recovered</h2><table class=\"metrics\"><tr><th></th><th>Average similarity (AS)</th>");
            foreach (var k in m.SuccessRates.Keys) html.Append($"<th>training images matched ≥ {H(k)}</th>");
            html.Append($"</tr><tr><td>Extracted images</td><td>{F(m.AverageSimilarity)}</td>");
            foreach (var v in m.SuccessRates.Values) html.Append($"<td>{Pct(v)}</td>");
            html.Append($"</tr><tr class=\"muted\"><td>All {r.Generated.Count} generated images (upper bound)</td><td>{F(m.OracleAverageSimilarity)}</td>");
            foreach (var v in m.OracleSuccessRates.Values) html.Append($"<td>{Pct(v)}</td>");
            html.Append($"</tr><tr class=\"muted\"><td>First {m.FirstN} generated images (no grouping)</td><td>{F(m.FirstNAverageSimilarity)}</td>");
            foreach (var v in m.FirstNSuccessRates.Values) html.Append($"<td>{Pct(v)}</td>");
            html.Append("</tr></table>");
        }

        html.Append("<h2>Extracted images</h2><div class=\"pairs\">");
        foreach (var e in r.Extracted)
        {
            html.Append("<div class=\"pair\"><div class=\"imgs\">");
            html.Append($"<figure>{Img(Path.Combine(outputFolder, e.File), $"extracted #{e.Rank}")}<figcaption>extracted #{e.Rank} (image {e.Image}, group of {e.ClusterSize})</figcaption></figure>");
            if (e.BestReference is { } refName && referenceFolder is not null)
                html.Append($"<figure>{Img(Path.Combine(referenceFolder, refName), refName)}<figcaption>training image {H(refName)}</figcaption></figure>");
            html.Append("</div>");
            if (e.BestReferenceSimilarity is { } s) html.Append($"<p>similarity <b>{F(s)}</b> {Verdict(s)}</p>");
            html.Append("</div>");
        }
        html.Append("</div>");

        if (r.Metrics is { } metrics && referenceFolder is not null)
        {
            html.Append("<h2>Each training image and its closest extracted image</h2><div class=\"pairs\">");
            foreach (var match in metrics.PerImage.OrderByDescending(x => x.Similarity))
            {
                html.Append("<div class=\"pair\"><div class=\"imgs\">");
                html.Append($"<figure>{Img(Path.Combine(referenceFolder, match.Reference), match.Reference)}<figcaption>training image {H(match.Reference)}</figcaption></figure>");
                html.Append($"<figure>{Img(Path.Combine(outputFolder, match.BestExtracted), match.BestExtracted)}<figcaption>closest extracted (image {match.BestExtractedImage})</figcaption></figure>");
                html.Append($"</div><p>similarity <b>{F(match.Similarity)}</b> {Verdict(match.Similarity)}</p></div>");
            }
            html.Append("</div>");
        }

        html.Append("<h2>Reproducing this evidence</h2><p>Every generated image is determined by the inputs below and the parameters in <code>results.json</code>. "
            + "Any single image can be regenerated bit for bit on a CPU with <code>finextract reproduce results.json --image N</code>.</p><table><tr><th>role</th><th>file</th><th>bytes</th><th>SHA-256</th></tr>");
        foreach (var input in r.Inputs)
            foreach (var f in input.Files.Take(50))
                html.Append($"<tr><td>{H(input.Role)}</td><td>{H(f.Path)}</td><td>{f.Bytes:N0}</td><td><code>{H(f.Sha256)}</code></td></tr>");
        html.Append($"</table><p class=\"muted\">{H(r.Tool.Name)} {H(r.Tool.Version)}, TorchSharp {H(r.Tool.TorchSharp)}, {H(r.Tool.Device)} {H(r.Tool.DType)}, {r.Tool.Threads} threads, {H(r.Tool.Machine)}.</p>");
        html.Append("</body></html>");
        File.WriteAllText(path, html.ToString());
    }
}
