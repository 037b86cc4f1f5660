using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineXtract.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FineXtract.Training;

/// <summary>Optimiser, schedule and bookkeeping options shared by every trainer.</summary>
public sealed record TrainingOptions
{
    public int Steps { get; init; } = 1000;
    public int BatchSize { get; init; } = 1;
    public double LearningRate { get; init; } = 1e-4;
    /// <summary>Linear warm-up from 0 over this many steps, then constant.</summary>
    public int WarmupSteps { get; init; }
    public long Seed { get; init; }
    /// <summary>clip_grad_norm_ threshold; 0 disables clipping.</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    /// <summary>AdamW (β 0.9/0.999, ε 1e-8, weight decay 1e-2: diffusers' example-script defaults).</summary>
    public double WeightDecay { get; init; } = 1e-2;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Epsilon { get; init; } = 1e-8;
    /// <summary>Save a resumable checkpoint every this many steps (0: only at the end and on cancel).</summary>
    public int CheckpointEvery { get; init; } = 500;
    /// <summary>Resumable checkpoints kept (older ones are deleted).</summary>
    public int KeepCheckpoints { get; init; } = 2;
    /// <summary>Where checkpoint-N/ folders go.</summary>
    public required string CheckpointDir { get; init; }
    /// <summary>Continue from the newest checkpoint in <see cref="CheckpointDir"/> (error when there is none).</summary>
    public bool Resume { get; init; }

    public void Validate()
    {
        if (Steps < 1) throw new FineXtractException($"--steps must be at least 1, got {Steps}");
        if (BatchSize < 1 || BatchSize > 4096) throw new FineXtractException($"--batch must be 1..4096, got {BatchSize}");
        if (!(LearningRate > 0) || LearningRate > 1) throw new FineXtractException($"--lr must be in (0, 1], got {LearningRate}");
        if (WarmupSteps < 0) throw new FineXtractException($"--warmup must be ≥ 0, got {WarmupSteps}");
        if (MaxGradNorm < 0) throw new FineXtractException($"--max-grad-norm must be ≥ 0, got {MaxGradNorm}");
        if (CheckpointEvery < 0) throw new FineXtractException($"--checkpoint-every must be ≥ 0, got {CheckpointEvery}");
        if (KeepCheckpoints < 1) throw new FineXtractException($"keep at least one checkpoint, got {KeepCheckpoints}");
    }

    public double LearningRateAt(long step) => WarmupSteps > 0 && step < WarmupSteps ? LearningRate * (step + 1) / WarmupSteps : LearningRate;
}

/// <summary>What a progress callback sees after each step.</summary>
public sealed record TrainingProgress(int Step, int TotalSteps, double Loss, double SmoothedLoss, double StepsPerSecond, TimeSpan Eta, double LearningRate)
{
    public string Describe() =>
        $"step {Step}/{TotalSteps} loss {Loss:F4} (avg {SmoothedLoss:F4}) lr {LearningRate:G3} {StepsPerSecond:F2} steps/s ETA {FormatEta(Eta)}";

    public static string FormatEta(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:D2}m" : $"{t.Minutes}m{t.Seconds:D2}s";
}

public enum TrainingOutcome { Completed, Cancelled }

/// <summary>The end of a run: how it ended, the last completed step, every loss of this session and the last checkpoint.</summary>
public sealed record TrainingResult(TrainingOutcome Outcome, int Step, int StartStep, IReadOnlyList<double> Losses, string? LastCheckpoint);

/// <summary>
/// The shared optimisation loop: AdamW, warm-up then constant LR, gradient clipping, one dispose scope per step
/// (memory stays flat), progress callbacks, resumable checkpoints every N steps and on cancellation.
/// <para>
/// A checkpoint (<c>checkpoint-N/</c>) holds the trainable weights (<c>model.safetensors</c>, fp32), the AdamW state
/// (<c>optimizer.bin</c>: per-parameter step, exp_avg, exp_avg_sq, via TorchSharp's save_state_dict) and
/// <c>state.json</c> (step, seed, batch, kind). Everything random in a step is a function of (seed, step) (see
/// <see cref="StepRandom"/>) and the data order is a function of (seed, epoch), so no RNG state is needed: a resumed
/// run computes the same steps as an uninterrupted one.
/// </para>
/// </summary>
public sealed class TrainingLoop
{
    private readonly TrainingOptions _options;
    private readonly string _kind;
    private readonly IReadOnlyDictionary<string, nn.Module> _modules;
    private readonly List<Parameter> _parameters;

    /// <param name="kind">What is trained (vae, base, dreambooth, lora); a checkpoint of another kind is refused.</param>
    /// <param name="modules">The trainable modules by name; their trainable parameters are optimised and saved.</param>
    public TrainingLoop(TrainingOptions options, string kind, IReadOnlyDictionary<string, nn.Module> modules)
    {
        options.Validate();
        _options = options;
        _kind = kind;
        _modules = modules;
        _parameters = modules.Values.SelectMany(m => m.parameters()).Where(p => p.requires_grad).ToList();
        if (_parameters.Count == 0) throw new InvalidOperationException("nothing to train: no parameter requires grad");
    }

    public TrainingOptions Options => _options;

    /// <summary>Trainable parameter count.</summary>
    public long ParameterCount => _parameters.Sum(p => p.numel());

    /// <summary>
    /// Runs steps until <see cref="TrainingOptions.Steps"/>. <paramref name="loss"/> computes the loss of one step
    /// (a 0-d tensor with grad) inside the step's dispose scope; the loop does backward, clipping and the update.
    /// </summary>
    public TrainingResult Run(Func<long, Tensor> loss, Action<TrainingProgress>? progress = null, CancellationToken cancel = default)
    {
        using var optimizer = optim.AdamW(_parameters, _options.LearningRate, _options.Beta1, _options.Beta2, _options.Epsilon,
            _options.WeightDecay, false, false);
        int start = 0;
        if (_options.Resume)
        {
            var latest = LatestCheckpoint(_options.CheckpointDir)
                ?? throw new FineXtractException($"--resume: no checkpoint-N folder in {_options.CheckpointDir}");
            start = LoadCheckpoint(latest, optimizer);
            if (start > _options.Steps)
                throw new FineXtractException($"{latest}: the checkpoint is at step {start}, past --steps {_options.Steps}");
        }

        foreach (var m in _modules.Values) m.train();
        var losses = new List<double>();
        string? lastCheckpoint = null;
        var clock = Stopwatch.StartNew();
        double smoothed = double.NaN;
        int step = start;
        for (; step < _options.Steps; step++)
        {
            if (cancel.IsCancellationRequested)
            {
                lastCheckpoint = SaveCheckpoint(step, optimizer);
                return new TrainingResult(TrainingOutcome.Cancelled, step, start, losses, lastCheckpoint);
            }
            double lr = _options.LearningRateAt(step);
            foreach (var group in optimizer.ParamGroups) group.LearningRate = lr;
            double value;
            using (var scope = NewDisposeScope())
            {
                optimizer.zero_grad();
                var l = loss(step);
                value = l.item<float>();
                if (!double.IsFinite(value))
                    throw new FineXtractException($"step {step + 1}: the loss is {value} (diverged; lower --lr or check the data)");
                l.backward();
                if (_options.MaxGradNorm > 0) nn.utils.clip_grad_norm_(_parameters, _options.MaxGradNorm);
                optimizer.step();
            }
            losses.Add(value);
            smoothed = double.IsNaN(smoothed) ? value : 0.98 * smoothed + 0.02 * value;
            int done = step + 1;
            double rate = (done - start) / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
            progress?.Invoke(new TrainingProgress(done, _options.Steps, value, smoothed, rate,
                TimeSpan.FromSeconds((_options.Steps - done) / Math.Max(rate, 1e-9)), lr));
            if (_options.CheckpointEvery > 0 && done % _options.CheckpointEvery == 0 && done < _options.Steps)
                lastCheckpoint = SaveCheckpoint(done, optimizer);
        }
        lastCheckpoint = SaveCheckpoint(step, optimizer);
        foreach (var m in _modules.Values) m.eval();
        return new TrainingResult(TrainingOutcome.Completed, step, start, losses, lastCheckpoint);
    }

    /// <summary>The newest <c>checkpoint-N</c> folder with a complete state.json, or null.</summary>
    public static string? LatestCheckpoint(string dir)
    {
        if (!Directory.Exists(dir)) return null;
        return Directory.EnumerateDirectories(dir, "checkpoint-*")
            .Select(d => (Dir: d, Step: int.TryParse(Path.GetFileName(d)["checkpoint-".Length..], out var s) ? s : -1))
            .Where(c => c.Step >= 0 && File.Exists(Path.Combine(c.Dir, "state.json")))
            .OrderByDescending(c => c.Step).Select(c => c.Dir).FirstOrDefault();
    }

    private string SaveCheckpoint(int step, OptimizerHelper optimizer)
    {
        Directory.CreateDirectory(_options.CheckpointDir);
        string final = Path.Combine(_options.CheckpointDir, $"checkpoint-{step}");
        string tmp = final + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        SafeTensorsWriter.Write(Path.Combine(tmp, "model.safetensors"), TrainableState());
        optimizer.save_state_dict(Path.Combine(tmp, "optimizer.bin"));
        var state = new JsonObject
        {
            ["kind"] = _kind,
            ["step"] = step,
            ["seed"] = _options.Seed,
            ["batch_size"] = _options.BatchSize,
            ["learning_rate"] = _options.LearningRate,
            ["total_steps"] = _options.Steps,
            ["saved_at"] = DateTimeOffset.UtcNow.ToString("O"),
        };
        File.WriteAllText(Path.Combine(tmp, "state.json"), state.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        if (Directory.Exists(final)) Directory.Delete(final, true);
        Directory.Move(tmp, final);

        var old = Directory.EnumerateDirectories(_options.CheckpointDir, "checkpoint-*")
            .Select(d => (Dir: d, Step: int.TryParse(Path.GetFileName(d)["checkpoint-".Length..], out var s) ? s : -1))
            .Where(c => c.Step >= 0).OrderByDescending(c => c.Step).Skip(_options.KeepCheckpoints);
        foreach (var (dir, _) in old) Directory.Delete(dir, true);
        return final;
    }

    private IEnumerable<KeyValuePair<string, Tensor>> TrainableState() =>
        _modules.SelectMany(m => m.Value.named_parameters().Where(p => p.parameter.requires_grad)
            .Select(p => KeyValuePair.Create($"{m.Key}.{p.name}", (Tensor)p.parameter)));

    private int LoadCheckpoint(string dir, OptimizerHelper optimizer)
    {
        JsonObject state;
        try
        {
            state = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "state.json"))) as JsonObject
                ?? throw new FineXtractException($"{dir}/state.json: not a JSON object");
        }
        catch (JsonException e)
        {
            throw new FineXtractException($"{dir}/state.json: invalid JSON ({e.Message})");
        }
        string kind = state["kind"]?.GetValue<string>() ?? "?";
        if (kind != _kind) throw new FineXtractException($"{dir}: a '{kind}' checkpoint cannot resume '{_kind}' training");
        long seed = state["seed"]?.GetValue<long>() ?? -1;
        int batch = state["batch_size"]?.GetValue<int>() ?? -1;
        if (seed != _options.Seed || batch != _options.BatchSize)
            throw new FineXtractException(
                $"{dir}: saved with --seed {seed} --batch {batch}; resume with the same values (got --seed {_options.Seed} --batch {_options.BatchSize})");

        using (var file = SafeTensorsFile.Open(Path.Combine(dir, "model.safetensors")))
        using (no_grad())
        {
            var expected = TrainableState().ToList();
            foreach (var (name, target) in expected)
            {
                if (!file.Tensors.ContainsKey(name))
                    throw new FineXtractException($"{dir}: checkpoint lacks '{name}' (saved from a different model?)");
                using var value = file.Load(name, target.dtype);
                if (!value.shape.SequenceEqual(target.shape))
                    throw new FineXtractException($"{dir}: '{name}' has shape [{string.Join(",", value.shape)}], the model needs [{string.Join(",", target.shape)}]");
                target.copy_(value);
            }
            if (file.Tensors.Count != expected.Count)
                throw new FineXtractException($"{dir}: checkpoint has {file.Tensors.Count} tensors, the model trains {expected.Count} (saved from a different model?)");
        }
        optimizer.load_state_dict(Path.Combine(dir, "optimizer.bin"));
        return state["step"]?.GetValue<int>() ?? throw new FineXtractException($"{dir}/state.json: no step");
    }
}
