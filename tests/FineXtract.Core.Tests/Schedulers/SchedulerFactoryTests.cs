using FineXtract.Diffusion.Schedulers;

namespace FineXtract.Tests.Schedulers;

public class SchedulerFactoryTests
{
    [Fact]
    public void ChoosesByClassName()
    {
        using (var d = SchedulerFactory.FromConfig(SchedulerFixtures.Ddim())) Assert.IsType<DdimScheduler>(d);
        using (var p = SchedulerFactory.FromConfig(SchedulerFixtures.Pndm())) Assert.IsType<PndmScheduler>(p);
        using (var sd = SchedulerFactory.FromConfig(SchedulerConfig.StableDiffusion1)) Assert.IsType<PndmScheduler>(sd);
        // DDIM on the PNDM config, as DDIMScheduler.from_config(pipe.scheduler.config) does.
        using var dd = SchedulerFactory.Create("DDIMScheduler", SchedulerFixtures.Pndm());
        Assert.IsType<DdimScheduler>(dd);
    }

    [Theory]
    [InlineData("EulerDiscreteScheduler")]
    [InlineData("DPMSolverMultistepScheduler")]
    [InlineData("ddimscheduler")]
    public void OtherClassesAreNotSupported(string name)
    {
        var config = SchedulerConfig.Parse($$"""{"_class_name":"{{name}}"}""");
        var e = Assert.Throws<FineXtractException>(() => SchedulerFactory.FromConfig(config));
        Assert.Contains(name, e.Message);
        Assert.Contains("not supported", e.Message);
    }

    [Fact]
    public void MissingClassNameIsUserError()
    {
        var e = Assert.Throws<FineXtractException>(() => SchedulerFactory.FromConfig(SchedulerConfig.Parse("{}")));
        Assert.Contains("_class_name", e.Message);
    }
}
