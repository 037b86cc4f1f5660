using System.Text.Json;
using System.Text.RegularExpressions;
using FineXtract.Extraction.Pipeline;
using FineXtract.Extraction.Sampling;
using static TorchSharp.torch;

namespace FineXtract.Extraction.Prompts;

/// <summary>A candidate training prompt with the evidence for it. Higher scores are stronger within a source.</summary>
public sealed record PromptCandidate(string Prompt, string Source, double Score, string Evidence);

/// <summary>The prompt chosen for <c>--prompt auto</c>, every candidate considered, and why.</summary>
public sealed record PromptChoice(string Prompt, string Reason, IReadOnlyList<PromptCandidate> Candidates);

public sealed record PromptProbeOptions(int VocabularyLimit = 2000, int ProbeImages = 4, long ProbeTimestep = 600, int MaxPromptTokens = 3, long Seed = 0);

/// <summary>
/// Blind prompt recovery, strongest evidence first: (a) kohya metadata (dataset folder names "N_instance prompt",
/// caption tags); (b) tokens whose contextual embedding in the fine-tuned text encoder moved most from the base's;
/// (c) a probe ranking vocabulary tokens by how far the fine-tuned UNet's conditional prediction departs from the
/// base's, relative to their unconditional departure.
/// </summary>
public static partial class PromptRecovery
{
    public static IReadOnlyList<PromptCandidate> FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        var result = new List<PromptCandidate>();
        if (metadata.TryGetValue("ss_tag_frequency", out var tagJson) && TryParse(tagJson) is { ValueKind: JsonValueKind.Object } tags)
        {
            foreach (var dataset in tags.EnumerateObject())
            {
                var m = RepeatsPrefix().Match(dataset.Name);
                string instance = m.Success ? m.Groups[2].Value.Trim() : dataset.Name.Trim();
                if (instance.Length > 0)
                    result.Add(new PromptCandidate(instance, "metadata", 1.0, $"kohya dataset folder '{dataset.Name}' (ss_tag_frequency)"));
                if (dataset.Value.ValueKind != JsonValueKind.Object) continue;
                var top = dataset.Value.EnumerateObject()
                    .Select(t => (Tag: t.Name, Count: t.Value.TryGetInt32(out var c) ? c : 0))
                    .OrderByDescending(t => t.Count).ThenBy(t => t.Tag, StringComparer.Ordinal).ToList();
                int total = Math.Max(1, top.Sum(t => t.Count));
                foreach (var (tag, count) in top.Take(5))
                    if (!string.Equals(tag, instance, StringComparison.OrdinalIgnoreCase))
                        result.Add(new PromptCandidate(tag, "metadata", 0.5 * count / total, $"caption tag '{tag}' used {count}× in '{dataset.Name}'"));
            }
        }
        foreach (var key in new[] { "modelspec.trigger_phrase", "ss_output_name" })
            if (metadata.TryGetValue(key, out var v) && !string.IsNullOrWhiteSpace(v))
                result.Add(new PromptCandidate(v.Trim(), "metadata", key.StartsWith("modelspec") ? 0.9 : 0.2, $"{key} = '{v}'"));
        return Deduplicate(result);
    }

    /// <summary>(b) Whole-word tokens whose [BOS, token] hidden state differs most between the two text encoders.</summary>
    public static IReadOnlyList<PromptCandidate> FromTextEncoderDrift(ExtractionModels models, int top = 10, int vocabularyLimit = 49408)
    {
        if (!models.FineTunedTextEncoderDiffers) return [];
        var tokens = WholeWordTokens(models, vocabularyLimit);
        var scores = new List<(int Id, double Score)>();
        using var inference = inference_mode();
        foreach (var chunk in tokens.Chunk(512))
        {
            using var scope = NewDisposeScope();
            var ids = tensor(chunk.SelectMany(t => new long[] { models.Tokenizer.BosId, t, models.Tokenizer.EosId }).ToArray(), [chunk.Length, 3]);
            using var pre = models.PretrainedTextEncoder.Forward(ids);
            using var ft = models.FineTunedTextEncoder.Forward(ids);
            var a = pre.LastHiddenState[.., 1];
            var b = ft.LastHiddenState[.., 1];
            var drift = ((b - a).norm(1) / (a.norm(1) + 1e-8)).data<float>().ToArray();
            for (int i = 0; i < chunk.Length; i++) scores.Add((chunk[i], drift[i]));
        }
        return scores.OrderByDescending(s => s.Score).ThenBy(s => s.Id).Take(top)
            .Select(s => new PromptCandidate(models.Tokenizer.TokenText(s.Id, out _), "text-encoder-drift", s.Score,
                $"token {s.Id}: relative change of its text-encoder state {s.Score:F3}"))
            .ToList();
    }

    /// <summary>(c) Tokens ranked by the fine-tuned UNet's conditional departure from the base, relative to the unconditional one.</summary>
    public static IReadOnlyList<PromptCandidate> FromUNetProbe(ExtractionModels models, PromptProbeOptions options, IEnumerable<string>? extraPrompts = null, int top = 10)
    {
        using var probe = new DepartureProbe(models, options);
        return FromUNetProbe(models, probe, options, extraPrompts, top);
    }

    private static IReadOnlyList<PromptCandidate> FromUNetProbe(ExtractionModels models, DepartureProbe probe, PromptProbeOptions options,
        IEnumerable<string>? extraPrompts, int top)
    {
        var prompts = WholeWordTokens(models, options.VocabularyLimit).Select(id => models.Tokenizer.TokenText(id, out _))
            .Concat(extraPrompts ?? []).Where(p => p.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        var values = probe.Score(prompts);
        return prompts.Select((p, i) => (Prompt: p, Score: values[i])).OrderByDescending(s => s.Score).ThenBy(s => s.Prompt, StringComparer.Ordinal).Take(top)
            .Select(s => new PromptCandidate(s.Prompt, "unet-probe", s.Score,
                $"fine-tuned/base departure {s.Score:F3}× the unconditional departure"))
            .ToList();
    }

    /// <summary>
    /// <c>--prompt auto</c>: the metadata's instance prompt when there is one; otherwise the best probe tokens, grown
    /// greedily into a phrase while the phrase's departure score keeps rising.
    /// </summary>
    public static PromptChoice Recover(ExtractionModels models, IReadOnlyDictionary<string, string>? metadata, PromptProbeOptions options)
    {
        var candidates = new List<PromptCandidate>();
        var meta = metadata is null ? [] : FromMetadata(metadata);
        candidates.AddRange(meta);
        if (meta.Count > 0 && meta[0].Score >= 0.9)
            return new PromptChoice(meta[0].Prompt, $"metadata: {meta[0].Evidence}", candidates);

        var drift = FromTextEncoderDrift(models);
        candidates.AddRange(drift);
        // One probe (fixed latents, unconditional departure) scores both the tokens and the phrases built from them.
        using var probe = new DepartureProbe(models, options);
        var probed = FromUNetProbe(models, probe, options, drift.Select(d => d.Prompt).Concat(meta.Select(m => m.Prompt)), 10);
        candidates.AddRange(probed);
        if (probed.Count == 0) return new PromptChoice(string.Empty, "no candidate: caption-free", candidates);

        string best = probed[0].Prompt;
        double bestScore = probe.Score([best])[0];
        foreach (var next in probed.Skip(1).Take(6))
        {
            if (best.Split(' ').Length >= options.MaxPromptTokens) break;
            string phrase = $"{best} {next.Prompt}";
            double s = probe.Score([phrase])[0];
            if (s > bestScore)
            {
                best = phrase;
                bestScore = s;
            }
        }
        candidates.Add(new PromptCandidate(best, "unet-probe-phrase", bestScore, "greedy phrase of the top probe tokens"));
        return new PromptChoice(best, $"unet probe: '{best}' departs {bestScore:F3}× the unconditional departure (no usable metadata)", candidates);
    }

    private static List<int> WholeWordTokens(ExtractionModels models, int limit)
    {
        // CLIP's vocabulary is ordered by merge rank (≈ frequency): 256 bytes, 256 bytes+</w>, then merges.
        var result = new List<int>();
        int size = models.Tokenizer.VocabularySize;
        for (int id = 256; id < size && result.Count < limit; id++)
        {
            if (id == models.Tokenizer.BosId || id == models.Tokenizer.EosId) continue;
            string text = models.Tokenizer.TokenText(id, out bool whole);
            if (whole && text.Length >= 2 && text.All(char.IsLetterOrDigit)) result.Add(id);
        }
        return result;
    }

    private static List<PromptCandidate> Deduplicate(List<PromptCandidate> list) =>
        list.GroupBy(c => c.Prompt, StringComparer.OrdinalIgnoreCase).Select(g => g.OrderByDescending(c => c.Score).First())
            .OrderByDescending(c => c.Score).ToList();

    private static JsonElement? TryParse(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    [GeneratedRegex(@"^(\d+)_(.+)$")] private static partial Regex RepeatsPrefix();

    /// <summary>‖ε_ft(x,c) − ε_pre(x,c)‖² / ‖ε_ft(x,∅) − ε_pre(x,∅)‖² on fixed noisy probe latents.</summary>
    private sealed class DepartureProbe : IDisposable
    {
        private readonly ExtractionModels _m;
        private readonly PromptProbeOptions _o;
        private readonly Tensor _latents;
        private readonly double _unconditional;

        public DepartureProbe(ExtractionModels models, PromptProbeOptions options)
        {
            _m = models;
            _o = options;
            int size = models.PretrainedUnet.Config.SampleSize;
            var indices = Enumerable.Range(0, options.ProbeImages).Select(i => (long)i).ToList();
            _latents = SeedLatents.ForImages(options.Seed, indices, models.PretrainedUnet.Config.InChannels, size, size);
            _unconditional = Departure([string.Empty])[0];
        }

        public void Dispose() => _latents.Dispose();

        public double[] Score(IReadOnlyList<string> prompts) => Departure(prompts).Select(d => d / Math.Max(_unconditional, 1e-12)).ToArray();

        private double[] Departure(IReadOnlyList<string> prompts)
        {
            var result = new double[prompts.Count];
            int n = _o.ProbeImages;
            using var _ = inference_mode();
            for (int start = 0; start < prompts.Count; start += Math.Max(1, 64 / n))
            {
                using var scope = NewDisposeScope();
                var chunk = prompts.Skip(start).Take(Math.Max(1, 64 / n)).ToList();
                var ids = _m.Tokenizer.EncodeBatch(chunk);
                using var pre = _m.PretrainedTextEncoder.Forward(ids);
                using var ft = _m.FineTunedTextEncoderDiffers ? _m.FineTunedTextEncoder.Forward(ids) : null;
                var ctxPre = pre.LastHiddenState.repeat_interleave(n, 0);
                var ctxFt = (ft ?? pre).LastHiddenState.repeat_interleave(n, 0);
                var x = _latents.repeat(chunk.Count, 1, 1, 1);
                var t = tensor(_o.ProbeTimestep);
                var diff = _m.FineTunedUnet.forward(x, t, ctxFt) - _m.PretrainedUnet.forward(x, t, ctxPre);
                var perPrompt = diff.pow(2).flatten(1).sum(1).view(chunk.Count, n).mean([1]).data<float>().ToArray();
                for (int i = 0; i < chunk.Count; i++) result[start + i] = perPrompt[i];
            }
            return result;
        }
    }
}
