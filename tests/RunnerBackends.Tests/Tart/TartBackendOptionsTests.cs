using RunnerBackends.Tart;

namespace RunnerBackends.Tests.Tart;

public class TartBackendOptionsTests
{
    private static TartBackendOptions CreateSut() => new() { BaseImage = "macos-base" };

    [Fact]
    public void Validate_Defaults_NoProblems()
    {
        CreateSut().Validate().Should().BeEmpty();
    }

    [Fact]
    public void Defaults_MatchTheDocumentedValues()
    {
        var options = new TartBackendOptions();

        options.RunnerDirectory.Should().Be("/Users/admin/actions-runner");
        options.TartPath.Should().Be("tart");
        options.MaxRunners.Should().Be(2);
        options.PoolSize.Should().Be(0);
        options.ReadinessTimeout.Should().Be(TimeSpan.FromMinutes(2));
        options.AssignStableMacAddresses.Should().BeTrue();
        options.ProbeInitialDelay.Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(100)).And.BeLessThanOrEqualTo(TimeSpan.FromMilliseconds(250));
        options.ProbeMaxDelay.Should().Be(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public void Validate_ManyProblems_ListsEveryOne()
    {
        var options = new TartBackendOptions
        {
            BaseImage = " ",
            RunnerDirectory = "actions-runner",
            TartPath = "",
            MaxRunners = 0,
            PoolSize = 3,
            Cpu = -1,
            MemoryMB = -1,
            VmNamePrefix = "-bad",
            ReadinessTimeout = TimeSpan.Zero,
            ProbeInitialDelay = TimeSpan.FromSeconds(2),
            ProbeMaxDelay = TimeSpan.FromSeconds(1),
            RefillInitialDelay = TimeSpan.Zero,
        };

        var problems = options.Validate();

        problems.Should().Contain(p => p.StartsWith("BaseImage", StringComparison.Ordinal));
        problems.Should().Contain(p => p.StartsWith("RunnerDirectory must be an absolute path", StringComparison.Ordinal));
        problems.Should().Contain(p => p.StartsWith("TartPath", StringComparison.Ordinal));
        problems.Should().Contain(p => p.StartsWith("MaxRunners", StringComparison.Ordinal));
        problems.Should().Contain(p => p.StartsWith("PoolSize", StringComparison.Ordinal));
        problems.Should().Contain(p => p.StartsWith("Cpu", StringComparison.Ordinal));
        problems.Should().Contain(p => p.StartsWith("MemoryMB", StringComparison.Ordinal));
        problems.Should().Contain(p => p.StartsWith("VmNamePrefix", StringComparison.Ordinal));
        problems.Should().Contain(p => p.StartsWith("ReadinessTimeout", StringComparison.Ordinal));
        problems.Should().Contain(p => p.StartsWith("ProbeMaxDelay", StringComparison.Ordinal));
        problems.Should().Contain(p => p.StartsWith("RefillInitialDelay", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_PoolLargerThanMaxRunners_Reported()
    {
        var options = CreateSut();
        options.PoolSize = 3;

        options.Validate().Should().ContainSingle().Which.Should().Contain("PoolSize").And.Contain("MaxRunners (2)");
    }

    [Theory]
    [InlineData("a-prefix-that-is-much-too-long-for-vm-names")]
    [InlineData("has space")]
    [InlineData("")]
    public void Validate_BadPrefix_Reported(string prefix)
    {
        var options = CreateSut();
        options.VmNamePrefix = prefix;

        options.Validate().Should().ContainSingle().Which.Should().StartWith("VmNamePrefix");
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsOneArgumentExceptionListingAll()
    {
        var options = new TartBackendOptions { MaxRunners = 0, RunnerDirectory = "relative" };

        var act = () => new TartBackend(options);

        act.Should().Throw<ArgumentException>()
            .Which.Message.Should().Contain("BaseImage").And.Contain("MaxRunners").And.Contain("RunnerDirectory");
    }
}
