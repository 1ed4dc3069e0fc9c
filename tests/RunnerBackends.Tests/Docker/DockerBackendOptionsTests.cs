using RunnerBackends.Docker;

namespace RunnerBackends.Tests.Docker;

public class DockerBackendOptionsTests
{
    private static DockerBackendOptions CreateSut() => new() { RunnerImage = "runner:latest" };

    [Fact]
    public void Defaults_MatchTheDocumentedValues()
    {
        var options = new DockerBackendOptions();

        options.MountDockerSocket.Should().BeTrue();
        options.DockerSocketPath.Should().Be("/var/run/docker.sock");
        options.SharedVolumePath.Should().BeNull();
        options.SharedVolumeName.Should().Be("runner-shared");
        options.MemoryLimitMB.Should().Be(0);
        options.CpuLimit.Should().Be(0);
        options.Platform.Should().BeNull();
        options.RunnerCommand.Should().Be("/home/runner/run.sh");
        options.User.Should().Be("runner");
        options.Owner.Should().Be(Environment.MachineName);
    }

    [Fact]
    public void Validate_OnlyImageSet_NoProblems()
    {
        CreateSut().Validate().Should().BeEmpty();
    }

    [Fact]
    public void Validate_ImageMissing_Reported()
    {
        new DockerBackendOptions().Validate().Should().ContainSingle().Which.Should().Contain("RunnerImage");
    }

    [Fact]
    public void Validate_ManyProblems_ListsEveryOne()
    {
        var options = new DockerBackendOptions
        {
            RunnerImage = " ",
            DockerSocketPath = "relative.sock",
            SharedVolumePath = "shared",
            SharedVolumeName = "-bad",
            MemoryLimitMB = 3,
            CpuLimit = double.NaN,
            Platform = "linux/amd64/v2/extra",
            RunnerCommand = "",
            User = "",
            Owner = "",
        };

        options.Validate().Should().HaveCount(10);
    }

    [Theory]
    [InlineData("linux/amd64")]
    [InlineData("linux/arm64/v8")]
    public void Validate_GoodPlatform_Accepted(string platform)
    {
        var options = CreateSut();
        options.Platform = platform;

        options.Validate().Should().BeEmpty();
    }

    [Fact]
    public void Validate_SocketPathIrrelevantWhenNotMounted_Accepted()
    {
        var options = CreateSut();
        options.MountDockerSocket = false;
        options.DockerSocketPath = "";

        options.Validate().Should().BeEmpty();
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(2)]
    public void Validate_FractionalCpu_Accepted(double cpus)
    {
        var options = CreateSut();
        options.CpuLimit = cpus;

        options.Validate().Should().BeEmpty();
    }

    [Fact]
    public void Clone_LaterChangesToOriginal_DoNotAffectCopy()
    {
        var options = CreateSut();
        var copy = options.Clone();

        options.RunnerImage = "other";

        copy.RunnerImage.Should().Be("runner:latest");
    }
}
