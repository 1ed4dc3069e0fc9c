using System.Globalization;
using Microsoft.Extensions.Logging.Testing;
using RunnerBackends.Docker;

namespace RunnerBackends.IntegrationTests.Docker;

public sealed class DockerMaintenanceIntegrationTests(DockerFixture fixture)
{
    private readonly FakeLogger _logger = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task<CommandResult> RunInVolumeAsync(string volume, string script) => fixture.DockerCliAsync(
        "run", "--rm", "--user", "root", "--label", $"{DockerFixture.SessionLabel}={fixture.SessionId}",
        "--entrypoint", "sh", "-v", $"{volume}:/data", DockerFixture.TestImage, "-c", script);

    [Fact]
    public async Task CleanupSharedVolumeStaleAsync_MixedAges_DeletesOnlyFilesOlderThanTtl()
    {
        fixture.RequireDocker();
        var volume = fixture.Name("stale");
        await fixture.DockerCliAsync("volume", "create", "--label", $"{DockerFixture.SessionLabel}={fixture.SessionId}", volume);
        var old = DateTime.UtcNow.AddDays(-3).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        var recent = DateTime.UtcNow.AddHours(-2).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        await RunInVolumeAsync(volume, $"""
            set -e
            mkdir -p /data/olddir/deeper /data/mixed /data/emptyold
            echo x > /data/old.txt; echo x > /data/new.txt; echo x > /data/olddir/deeper/old.log
            echo x > /data/mixed/old.bin; echo x > /data/mixed/new.bin; echo x > '/data/mixed/old with space'
            ln -s /etc/passwd /data/old-link
            touch -d '{old}' /data/old.txt /data/olddir/deeper/old.log /data/mixed/old.bin '/data/mixed/old with space'
            touch -h -d '{old}' /data/old-link
            touch -d '{recent}' /data/new.txt /data/mixed/new.bin
            """);

        await DockerMaintenance.CleanupSharedVolumeStaleAsync(fixture.Api, DockerFixture.TestImage, "/data", TimeSpan.FromHours(24), volume, _logger, Ct);

        var listing = await RunInVolumeAsync(volume, "cd /data && find . | sort");
        listing.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().Equal(".", "./mixed", "./mixed/new.bin", "./new.txt");
        var leftovers = await fixture.DockerCliAsync("ps", "-aq", "--filter", "label=io.github.runnerbackends.purpose=shared-volume-cleanup", "--filter", "name=runner-cleanup-");
        leftovers.StandardOutput.Should().BeEmpty("the helper container is always removed");
    }

    [Fact]
    public async Task CleanupSharedVolumeStaleAsync_TtlShorterThanADay_UsesExactCutoff()
    {
        fixture.RequireDocker();
        var volume = fixture.Name("stalehours");
        await fixture.DockerCliAsync("volume", "create", "--label", $"{DockerFixture.SessionLabel}={fixture.SessionId}", volume);
        var threeHours = DateTime.UtcNow.AddHours(-3).ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        await RunInVolumeAsync(volume, $"echo x > /data/three-hours; echo x > /data/now; touch -d '{threeHours}' /data/three-hours");

        await DockerMaintenance.CleanupSharedVolumeStaleAsync(fixture.Api, DockerFixture.TestImage, "/data", TimeSpan.FromHours(1), volume, _logger, Ct);

        var listing = await RunInVolumeAsync(volume, "ls /data");
        listing.StandardOutput.Trim().Should().Be("now");
    }

    [Fact]
    public async Task CleanupSharedVolumeStaleAsync_HelperImageMissing_ThrowsImageNotFound()
    {
        fixture.RequireDocker();

        var act = () => DockerMaintenance.CleanupSharedVolumeStaleAsync(
            fixture.Api, $"runnerbackends/{fixture.SessionId}-nohelper:1", "/data", TimeSpan.FromDays(1), fixture.Name("v"), _logger, Ct);

        await act.Should().ThrowAsync<RunnerImageNotFoundException>();
    }

    [Fact]
    public async Task CleanupSharedDockerAsync_DanglingImageAndVolume_RemovedAndBuildCachePruned()
    {
        fixture.RequireDocker();
        var volume = fixture.Name("shared");
        await fixture.DockerCliAsync("volume", "create", "--label", $"{DockerFixture.SessionLabel}={fixture.SessionId}", volume);
        var tag = $"runnerbackends/{fixture.SessionId}-dangling:1";
        var first = await ImportTinyImageAsync(tag, "one");
        await ImportTinyImageAsync(tag, "two");

        await DockerMaintenance.CleanupSharedDockerAsync(fixture.Api, removeVolume: true, volume, _logger, Ct);

        (await fixture.DockerCliAsync("image", "ls", "-q", "--no-trunc")).StandardOutput.Should().NotContain(first);
        (await fixture.DockerCliAsync("volume", "ls", "-q")).StandardOutput.Should().NotContain(volume);
        var events = _logger.Collector.GetSnapshot().Select(r => r.Id.Id).ToList();
        events.Should().Contain([2100, 2103, 2105]).And.NotContain([2102, 2104, 2106]);
    }

    [Fact]
    public async Task PruneBuildCacheAsync_RealEngine_ReturnsReport()
    {
        fixture.RequireDocker();

        var result = await fixture.Api.PruneBuildCacheAsync(all: true, Ct);

        result.Should().NotBeNull();
        result.CachesDeleted.Should().NotBeNull();
    }

    [Fact]
    public async Task CleanupOrphanedBuildxBuildersAsync_OldBuilderLookalikes_RemovedWithStateVolumesYoungKept()
    {
        fixture.RequireDocker();
        var old = $"buildx_buildkit_{fixture.SessionId}old0";
        var young = $"buildx_buildkit_{fixture.SessionId}young0";
        var dangling = $"buildx_buildkit_{fixture.SessionId}gone0_state";
        await CreateBuilderAsync(old);
        await fixture.DockerCliAsync("volume", "create", "--label", $"{DockerFixture.SessionLabel}={fixture.SessionId}", old + "_state");
        await fixture.DockerCliAsync("volume", "create", "--label", $"{DockerFixture.SessionLabel}={fixture.SessionId}", dangling);
        await Task.Delay(TimeSpan.FromSeconds(5), Ct);
        await CreateBuilderAsync(young);

        var removed = await DockerMaintenance.CleanupOrphanedBuildxBuildersAsync(fixture.Api, TimeSpan.FromSeconds(3), _logger, Ct);

        removed.Should().Contain(old).And.NotContain(young);
        (await fixture.InspectAsync(old)).Should().BeNull();
        (await fixture.InspectAsync(young)).Should().NotBeNull();
        var volumes = (await fixture.DockerCliAsync("volume", "ls", "-q")).StandardOutput;
        volumes.Should().NotContain(old + "_state").And.NotContain(dangling);
    }

    private async Task CreateBuilderAsync(string name) =>
        await fixture.DockerCliAsync("create", "--name", name, "--label", $"{DockerFixture.SessionLabel}={fixture.SessionId}", DockerFixture.TestImage);

    private async Task<string> ImportTinyImageAsync(string tag, string content)
    {
        var dir = Directory.CreateTempSubdirectory("rbit-image");
        try
        {
            await File.WriteAllTextAsync(Path.Combine(dir.FullName, "content"), content, Ct);
            var tar = Path.Combine(dir.FullName, "rootfs.tar");
            await new ProcessCommandRunner().RunAsync(new CommandRequest("tar", "-C", dir.FullName, "-cf", tar, "content"), Ct);
            var id = await fixture.DockerCliAsync("import", "--change", $"LABEL {DockerFixture.SessionLabel}={fixture.SessionId}", tar, tag);
            return id.StandardOutput.Trim();
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
