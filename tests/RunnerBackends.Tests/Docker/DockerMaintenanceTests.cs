using System.Net;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Moq;
using RunnerBackends.Docker;

namespace RunnerBackends.Tests.Docker;

public class DockerMaintenanceTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 14, 12, 30, 45, TimeSpan.Zero);

    private readonly Mock<IDockerApi> _docker = new();
    private readonly FakeLogger _logger = new();
    private readonly FakeTimeProvider _time = new(Now);
    private CreateContainerParameters? _helper;

    public DockerMaintenanceTests()
    {
        _docker.Setup(d => d.PruneImagesAsync(It.IsAny<ImagesPruneParameters>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new ImagesPruneResponse { ImagesDeleted = [new ImageDeleteResponse()], SpaceReclaimed = 1536 });
        _docker.Setup(d => d.PruneBuildCacheAsync(It.IsAny<bool>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new BuildCachePruneResult(["c1", "c2"], 1572864));
        _docker.Setup(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()))
            .Callback<CreateContainerParameters, CancellationToken>((p, _) => _helper = p)
            .ReturnsAsync(new CreateContainerResponse { ID = "helper" });
        _docker.Setup(d => d.WaitContainerAsync("helper", It.IsAny<CancellationToken>()))
            .ReturnsAsync(new ContainerWaitResponse { StatusCode = 0 });
        _docker.Setup(d => d.ListVolumesAsync(It.IsAny<VolumesListParameters>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new VolumesListResponse { Volumes = [] });
        _docker.Setup(d => d.ListContainersAsync(It.IsAny<ContainersListParameters>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new List<ContainerListResponse>());
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private CreateContainerParameters Helper => _helper ?? throw new InvalidOperationException("no helper was created");

    private Task CleanupShared(bool removeVolume, string volume = "runner-shared") =>
        DockerMaintenance.CleanupSharedDockerAsync(_docker.Object, removeVolume, volume, _logger, TimeProvider.System, TimeSpan.Zero, Ct);

    private Task Sweep(TimeSpan ttl, string mountPath = "/shared") =>
        DockerMaintenance.CleanupSharedVolumeStaleAsync(_docker.Object, "helper:1", mountPath, ttl, "runner-shared", _logger, _time, TimeSpan.Zero, Ct);

    private Task<IReadOnlyList<string>> Buildx(TimeSpan maxAge) =>
        DockerMaintenance.CleanupOrphanedBuildxBuildersAsync(_docker.Object, maxAge, _logger, _time, TimeSpan.Zero, Ct);

    [Fact]
    public async Task CleanupSharedDockerAsync_RemoveVolume_RemovesVolumeAndPrunesDanglingImagesAndAllBuildCache()
    {
        await DockerMaintenance.CleanupSharedDockerAsync(_docker.Object, removeVolume: true, _logger, Ct);

        _docker.Verify(d => d.RemoveVolumeAsync("runner-shared", true, It.IsAny<CancellationToken>()), Times.Once);
        _docker.Verify(d => d.PruneImagesAsync(It.Is<ImagesPruneParameters>(p => p.Filters!["dangling"].ContainsKey("true")), It.IsAny<CancellationToken>()), Times.Once);
        _docker.Verify(d => d.PruneBuildCacheAsync(true, It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public async Task CleanupSharedDockerAsync_VolumeNameGiven_RemovesThatVolume()
    {
        await CleanupShared(removeVolume: true, volume: "team-cache");

        _docker.Verify(d => d.RemoveVolumeAsync("team-cache", true, It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public async Task CleanupSharedDockerAsync_KeepVolume_VolumeUntouched()
    {
        await CleanupShared(removeVolume: false);

        _docker.Verify(d => d.RemoveVolumeAsync(It.IsAny<string>(), It.IsAny<bool>(), It.IsAny<CancellationToken>()), Times.Never);
        _docker.Verify(d => d.PruneBuildCacheAsync(true, It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public async Task CleanupSharedDockerAsync_Success_LogsReclaimedSpaceFormatted()
    {
        await CleanupShared(removeVolume: false);

        var messages = _logger.Collector.GetSnapshot().Select(r => r.Message).ToList();
        messages.Should().Contain(m => m.Contains("1.5 KiB", StringComparison.Ordinal));
        messages.Should().Contain(m => m.Contains("1.5 MiB", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CleanupSharedDockerAsync_EveryStepFails_LoggedNeverThrownAndAllStepsTried()
    {
        _docker.Setup(d => d.RemoveVolumeAsync(It.IsAny<string>(), It.IsAny<bool>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new DockerApiException(HttpStatusCode.Conflict, "{\"message\":\"volume is in use\"}"));
        _docker.Setup(d => d.PruneImagesAsync(It.IsAny<ImagesPruneParameters>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new DockerApiException(HttpStatusCode.BadRequest, "no"));
        _docker.Setup(d => d.PruneBuildCacheAsync(It.IsAny<bool>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new DockerApiException(HttpStatusCode.BadRequest, "no"));

        var act = () => CleanupShared(removeVolume: true);

        await act.Should().NotThrowAsync();
        _logger.Collector.GetSnapshot().Where(r => r.Level == LogLevel.Warning).Should().HaveCount(3);
    }

    [Fact]
    public async Task CleanupSharedDockerAsync_VolumeMissing_NotAWarning()
    {
        _docker.Setup(d => d.RemoveVolumeAsync(It.IsAny<string>(), It.IsAny<bool>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new DockerApiException(HttpStatusCode.NotFound, "{\"message\":\"no such volume\"}"));

        await CleanupShared(removeVolume: true);

        _logger.Collector.GetSnapshot().Should().NotContain(r => r.Level >= LogLevel.Warning);
    }

    [Fact]
    public async Task CleanupSharedDockerAsync_TransientPruneFailure_Retried()
    {
        _docker.SetupSequence(d => d.PruneBuildCacheAsync(It.IsAny<bool>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new HttpRequestException("reset"))
            .ReturnsAsync(new BuildCachePruneResult([], 0));

        await CleanupShared(removeVolume: false);

        _docker.Verify(d => d.PruneBuildCacheAsync(true, It.IsAny<CancellationToken>()), Times.Exactly(2));
        _logger.Collector.GetSnapshot().Should().NotContain(r => r.Id.Id == 2106);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-60)]
    public async Task CleanupSharedVolumeStaleAsync_TtlNotPositive_NoEngineCall(int seconds)
    {
        await Sweep(TimeSpan.FromSeconds(seconds));

        _docker.VerifyNoOtherCalls();
    }

    [Theory]
    [InlineData("")]
    [InlineData("relative/path")]
    [InlineData("/")]
    public async Task CleanupSharedVolumeStaleAsync_BadMountPath_ThrowsBeforeEngineCall(string mountPath)
    {
        var act = () => Sweep(TimeSpan.FromDays(1), mountPath);

        await act.Should().ThrowAsync<ArgumentException>();
        _docker.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task CleanupSharedVolumeStaleAsync_EmptyHelperImage_Throws()
    {
        var act = () => DockerMaintenance.CleanupSharedVolumeStaleAsync(_docker.Object, "", "/shared", TimeSpan.FromDays(1), cancellationToken: Ct);

        await act.Should().ThrowAsync<ArgumentException>();
    }

    [Fact]
    public async Task CleanupSharedVolumeStaleAsync_Valid_RunsRootHelperWithVolumeLabelsAndCutoff()
    {
        await Sweep(TimeSpan.FromHours(36));

        Helper.Image.Should().Be("helper:1");
        Helper.User.Should().Be("root");
        Helper.Name.Should().StartWith("runner-cleanup-");
        Helper.Labels.Should().Contain(DockerLabels.ManagedBy, DockerLabels.ManagedByValue)
            .And.Contain(DockerLabels.Purpose, "shared-volume-cleanup");
        Helper.HostConfig!.Mounts.Should().ContainSingle()
            .Which.Should().BeEquivalentTo(new { Type = "volume", Source = "runner-shared", Target = "/shared" });
        Helper.Entrypoint.Should().Equal("");
        Helper.Cmd.Should().HaveCount(6);
        Helper.Cmd![0].Should().Be("sh");
        Helper.Cmd![1].Should().Be("-c");
        Helper.Cmd![4].Should().Be("/shared");
        Helper.Cmd![5].Should().Be("202603130030.45", "the cut-off is now minus the TTL, in UTC");
        _docker.Verify(d => d.StartContainerAsync("helper", It.IsAny<CancellationToken>()), Times.Once);
        _docker.Verify(d => d.RemoveContainerAsync("helper", It.Is<ContainerRemoveParameters>(p => p.Force == true), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public async Task CleanupSharedVolumeStaleAsync_Script_UsesOnlyPosixFind()
    {
        await Sweep(TimeSpan.FromDays(1));

        var script = Helper.Cmd![2];
        script.Should().Contain("-exec rm -f {} +").And.Contain("-depth").And.Contain("-exec rmdir {} +").And.Contain("! -newer");
        script.Should().NotContain("-delete").And.NotContain("-mmin").And.NotContain("-empty").And.NotContain("-mindepth");
    }

    [Fact]
    public async Task CleanupSharedVolumeStaleAsync_HelperFails_ThrowsAndStillRemovesHelper()
    {
        _docker.Setup(d => d.WaitContainerAsync("helper", It.IsAny<CancellationToken>()))
            .ReturnsAsync(new ContainerWaitResponse { StatusCode = 2 });

        var act = () => Sweep(TimeSpan.FromDays(1));

        (await act.Should().ThrowAsync<RunnerBackendException>()).Which.Message.Should().Contain("exited with code 2");
        _docker.Verify(d => d.RemoveContainerAsync("helper", It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public async Task CleanupSharedVolumeStaleAsync_StartFails_StillRemovesHelper()
    {
        _docker.Setup(d => d.StartContainerAsync("helper", It.IsAny<CancellationToken>()))
            .ThrowsAsync(new DockerApiException(HttpStatusCode.InternalServerError, "{\"message\":\"cannot start\"}"));

        var act = () => Sweep(TimeSpan.FromDays(1));

        await act.Should().ThrowAsync<RunnerBackendException>();
        _docker.Verify(d => d.RemoveContainerAsync("helper", It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Once);
    }

    [Fact]
    public async Task CleanupSharedVolumeStaleAsync_HelperImageMissing_ThrowsImageNotFound()
    {
        _docker.Setup(d => d.CreateContainerAsync(It.IsAny<CreateContainerParameters>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new DockerImageNotFoundException(HttpStatusCode.NotFound, "{\"message\":\"No such image: helper:1\"}"));

        var act = () => Sweep(TimeSpan.FromDays(1));

        (await act.Should().ThrowAsync<RunnerImageNotFoundException>()).Which.Image.Should().Be("helper:1");
    }

    [Fact]
    public async Task CleanupOrphanedBuildxBuildersAsync_MaxAgeNotPositive_NoEngineCall()
    {
        var removed = await Buildx(TimeSpan.Zero);

        removed.Should().BeEmpty();
        _docker.VerifyNoOtherCalls();
    }

    [Fact]
    public async Task CleanupOrphanedBuildxBuildersAsync_OldBuilders_RemovedWithStateVolume()
    {
        _docker.Setup(d => d.ListContainersAsync(It.IsAny<ContainersListParameters>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new List<ContainerListResponse>
            {
                new() { ID = "old", Names = ["/buildx_buildkit_old0"], Created = Now.UtcDateTime.AddHours(-3) },
                new() { ID = "young", Names = ["/buildx_buildkit_young0"], Created = Now.UtcDateTime.AddMinutes(-10) },
                new() { ID = "other", Names = ["/my_buildx_buildkit_lookalike"], Created = Now.UtcDateTime.AddDays(-3) },
            });

        var removed = await Buildx(TimeSpan.FromHours(1));

        removed.Should().Equal("buildx_buildkit_old0");
        _docker.Verify(d => d.RemoveContainerAsync("old", It.Is<ContainerRemoveParameters>(p => p.Force == true), It.IsAny<CancellationToken>()), Times.Once);
        _docker.Verify(d => d.RemoveVolumeAsync("buildx_buildkit_old0_state", true, It.IsAny<CancellationToken>()), Times.Once);
        _docker.Verify(d => d.RemoveContainerAsync("young", It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Never);
        _docker.Verify(d => d.RemoveContainerAsync("other", It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Fact]
    public async Task CleanupOrphanedBuildxBuildersAsync_DanglingVolumes_RemovesOnlyBuildxOnes()
    {
        _docker.Setup(d => d.ListVolumesAsync(It.IsAny<VolumesListParameters>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new VolumesListResponse
            {
                Volumes = [new VolumeResponse { Name = "buildx_buildkit_gone0_state" }, new VolumeResponse { Name = "precious-data" }],
            });

        await Buildx(TimeSpan.FromHours(1));

        _docker.Verify(d => d.ListVolumesAsync(It.Is<VolumesListParameters>(p => p.Filters!["dangling"].ContainsKey("true")), It.IsAny<CancellationToken>()), Times.Once);
        _docker.Verify(d => d.RemoveVolumeAsync("buildx_buildkit_gone0_state", true, It.IsAny<CancellationToken>()), Times.Once);
        _docker.Verify(d => d.RemoveVolumeAsync("precious-data", It.IsAny<bool>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Fact]
    public async Task CleanupOrphanedBuildxBuildersAsync_OneRemovalFails_OthersStillRemoved()
    {
        _docker.Setup(d => d.ListContainersAsync(It.IsAny<ContainersListParameters>(), It.IsAny<CancellationToken>()))
            .ReturnsAsync(new List<ContainerListResponse>
            {
                new() { ID = "a", Names = ["/buildx_buildkit_a0"], Created = Now.UtcDateTime.AddDays(-1) },
                new() { ID = "b", Names = ["/buildx_buildkit_b0"], Created = Now.UtcDateTime.AddDays(-1) },
            });
        _docker.Setup(d => d.RemoveContainerAsync("a", It.IsAny<ContainerRemoveParameters>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new DockerApiException(HttpStatusCode.BadRequest, "no"));

        var removed = await Buildx(TimeSpan.FromHours(1));

        removed.Should().Equal("buildx_buildkit_b0");
        _logger.Collector.GetSnapshot().Should().Contain(r => r.Id.Id == 2122);
    }
}
