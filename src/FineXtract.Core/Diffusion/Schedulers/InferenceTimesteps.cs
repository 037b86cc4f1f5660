namespace FineXtract.Diffusion.Schedulers;

/// <summary>
/// The inference timesteps that diffusers' DDIM/PNDM <c>set_timesteps</c> pick for a
/// <see cref="TimestepSpacing"/>, reproducing numpy's arithmetic (integer step ratio for "leading",
/// <c>np.round</c> = round-half-to-even, <c>np.arange</c>/<c>np.linspace</c> float fill rules).
/// </summary>
public static class InferenceTimesteps
{
    /// <summary>
    /// The timesteps in sampling order (descending), as DDIM's <c>set_timesteps</c> returns them.
    /// Throws a <see cref="FineXtractException"/> for a step count or offset that gives timesteps outside [0, N).
    /// </summary>
    public static long[] Descending(SchedulerConfig config, int numInferenceSteps)
    {
        ArgumentNullException.ThrowIfNull(config);
        var n = config.NumTrainTimesteps;
        if (numInferenceSteps < 1 || numInferenceSteps > n)
            throw new FineXtractException(
                $"number of inference steps must be between 1 and num_train_timesteps ({n}), got {numInferenceSteps}");
        long[] t;
        switch (config.TimestepSpacing)
        {
            case TimestepSpacing.Leading:
            {
                long ratio = n / numInferenceSteps;
                t = new long[numInferenceSteps];
                for (var i = 0; i < numInferenceSteps; i++)
                    t[i] = (numInferenceSteps - 1 - i) * ratio + config.StepsOffset;
                break;
            }
            case TimestepSpacing.Trailing:
            {
                // np.round(np.arange(N, 0, -N/S)) - 1
                double ratio = (double)n / numInferenceSteps;
                var values = NumpyArange(n, 0, -ratio);
                t = values.Select(v => (long)Math.Round(v, MidpointRounding.ToEven) - 1).ToArray();
                break;
            }
            case TimestepSpacing.Linspace:
            {
                // np.linspace(0, N-1, S).round()[::-1]
                var values = NumpyLinspace(0, n - 1, numInferenceSteps);
                t = values.Select(v => (long)Math.Round(v, MidpointRounding.ToEven)).Reverse().ToArray();
                break;
            }
            default:
                throw new FineXtractException($"timestep spacing {config.TimestepSpacing} is not supported");
        }
        foreach (var v in t)
        {
            if (v < 0 || v >= n)
                throw new FineXtractException(
                    $"{numInferenceSteps} inference steps with {config.TimestepSpacing.ToString().ToLowerInvariant()} spacing " +
                    $"and steps_offset {config.StepsOffset} give timestep {v}, outside [0, {n})");
        }
        return t;
    }

    /// <summary>numpy's float <c>arange(start, stop, step)</c>: length ceil((stop−start)/step), then start + i·(fl(start+step)−start).</summary>
    internal static double[] NumpyArange(double start, double stop, double step)
    {
        var len = (long)Math.Ceiling((stop - start) / step);
        if (len <= 0) return [];
        var y = new double[len];
        y[0] = start;
        if (len > 1) y[1] = start + step;
        var delta = len > 1 ? y[1] - start : step;
        for (long i = 2; i < len; i++)
            y[i] = start + i * delta;
        return y;
    }

    /// <summary>numpy's <c>linspace(start, stop, num)</c> with endpoint: i·((stop−start)/(num−1)) + start, last = stop.</summary>
    internal static double[] NumpyLinspace(double start, double stop, int num)
    {
        var y = new double[num];
        if (num == 1)
        {
            y[0] = start;
            return y;
        }
        var step = (stop - start) / (num - 1);
        for (var i = 0; i < num; i++)
            y[i] = i * step + start;
        y[num - 1] = stop;
        return y;
    }
}
