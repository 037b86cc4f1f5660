namespace FineXtract.Diffusion.Schedulers;

/// <summary>Creates a scheduler from a diffusers scheduler config by its <c>_class_name</c>.</summary>
public static class SchedulerFactory
{
    /// <summary>The diffusers class names this port implements.</summary>
    public static IReadOnlyList<string> SupportedClassNames { get; } = ["DDIMScheduler", "PNDMScheduler"];

    /// <summary>The scheduler the config's <c>_class_name</c> names.</summary>
    public static IScheduler FromConfig(SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var name = config.ClassName
            ?? throw new FineXtractException(
                $"the scheduler config has no _class_name; choose a scheduler explicitly ({string.Join(", ", SupportedClassNames)})");
        return Create(name, config);
    }

    /// <summary>
    /// The scheduler <paramref name="className"/> with <paramref name="config"/>'s schedule (as diffusers'
    /// <c>XScheduler.from_config(other.config)</c> does, e.g. DDIM on SD 1.x's PNDM config).
    /// </summary>
    public static IScheduler Create(string className, SchedulerConfig config)
    {
        ArgumentNullException.ThrowIfNull(className);
        ArgumentNullException.ThrowIfNull(config);
        return className switch
        {
            "DDIMScheduler" => new DdimScheduler(config),
            "PNDMScheduler" => new PndmScheduler(config),
            _ => throw new FineXtractException(
                $"scheduler '{className}' is not supported (supported: {string.Join(", ", SupportedClassNames)})"),
        };
    }
}
