using System.Globalization;
using Microsoft.Extensions.Logging.Testing;
using RunnerBackends.Docker;

namespace RunnerBackends.IntegrationTests.Docker;

public sealed class DockerBackendIntegrationTests(DockerFixture fixture) : IAsyncDisposable
{
    private const string LongJob = "job=120";
    private readonly List<DockerBackend> _backends = [];
    private readonly FakeLogger<DockerBackend> _logger = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        foreach (var backend in _backends)
        {
            await backend.DisposeAsync();
        }
    }

    private DockerBackend CreateSut(Action<DockerBackendOptions>? configure = null, IDockerApi? api = null)
    {
        fixture.RequireDocker();
        var backend = new DockerBackend(fixture.Options(configure), api ?? fixture.Api, _logger);
        _backends.Add(backend);
        return backend;
    }

    [Fact]
    public async Task StartRunnerAsync_RealEngine_RunningContainerWithNameLabelsEnvUserAndLimits()
    {
        var sut = CreateSut(o =>
        {
            o.MemoryLimitMB = 64;
            o.CpuLimit = 0.5;
        });
        var name = fixture.Name("start");

        var id = await sut.StartRunnerAsync(name, LongJob, Ct);

        var container = await fixture.InspectAsync(id);
        container.Should().NotBeNull();
        container!.Name.Should().Be("/" + name);
        container.State!.Running.Should().BeTrue();
        container.Config!.User.Should().Be("runner");
        container.Config!.Env.Should().Contain("ACTIONS_RUNNER_INPUT_JITCONFIG=" + LongJob);
        container.Config.Labels.Should().Contain(DockerLabels.ManagedBy, DockerLabels.ManagedByValue)
            .And.Contain(DockerLabels.Owner, fixture.Owner)
            .And.Contain(DockerLabels.RunnerName, name);
        container.HostConfig!.Memory.Should().Be(64L * 1024 * 1024);
        container.HostConfig.NanoCPUs.Should().Be(500_000_000);
        container.HostConfig.SecurityOpt.Should().Contain("label:disable");
        container.Mounts.Should().BeEmpty();
    }

    [Fact]
    public async Task StartRunnerAsync_SocketMounted_RunnerHasSocketAndItsGroup()
    {
        var sut = CreateSut(o => o.MountDockerSocket = true);
        var socketGid = (await new ProcessCommandRunner().RunAsync(new CommandRequest("stat", "-c", "%g", "/var/run/docker.sock"), Ct)).StandardOutput.Trim();

        var id = await sut.StartRunnerAsync(fixture.Name("sock"), "job=0", Ct);
        var exit = await sut.WaitForExitAsync(id, Ct);

        exit.ExitCode.Should().Be(0);
        var container = await fixture.InspectAsync(id);
        container!.Mounts.Should().ContainSingle(m => m.Type == "bind" && m.Source == "/var/run/docker.sock" && m.Destination == "/var/run/docker.sock");
        container.HostConfig!.GroupAdd.Should().Contain("0");
        if (socketGid != "0")
        {
            container.HostConfig.GroupAdd.Should().Contain(socketGid);
            var logs = await fixture.DockerCliAsync("logs", id);
            logs.StandardOutput.Should().Contain(socketGid, "run.sh prints the runner's groups");
        }
    }

    [Fact]
    public async Task StartRunnerAsync_SharedVolume_RunnerGetsVolumeAndSharedDirAndRuns()
    {
        var volume = fixture.Name("shared");
        var sut = CreateSut(o =>
        {
            o.SharedVolumePath = "/shared";
            o.SharedVolumeName = volume;
        });

        var id = await sut.StartRunnerAsync(fixture.Name("vol"), "job=0;exit=0", Ct);
        var exit = await sut.WaitForExitAsync(id, Ct);

        exit.ExitCode.Should().Be(0, "the chown wrapper ran and handed over to run.sh");
        var container = await fixture.InspectAsync(id);
        container!.Mounts.Should().ContainSingle(m => m.Type == "volume" && m.Name == volume && m.Destination == "/shared");
        container.Config!.Env.Should().Contain("SHARED_DIR=/shared");
    }

    [Fact]
    public async Task StartRunnerAsync_StartFails_NoContainerLeftBehind()
    {
        var sut = CreateSut(o => o.RunnerCommand = "/no/such/run.sh");
        var name = fixture.Name("nostart");

        var act = () => sut.StartRunnerAsync(name, "job=0", Ct);

        (await act.Should().ThrowAsync<RunnerBackendException>()).Which.Message.Should().Contain("removed");
        (await fixture.InspectAsync(name)).Should().BeNull();
    }

    [Fact]
    public async Task StartRunnerAsync_ImageMissing_ThrowsNamingImage()
    {
        var image = $"runnerbackends/{fixture.SessionId}-missing:nope";
        var sut = CreateSut(o => o.RunnerImage = image);
        var name = fixture.Name("noimage");

        var act = () => sut.StartRunnerAsync(name, "job=0", Ct);

        var error = (await act.Should().ThrowAsync<RunnerImageNotFoundException>()).Which;
        error.Image.Should().Be(image);
        error.Message.Should().Contain(image).And.Contain("pull");
        (await fixture.InspectAsync(name)).Should().BeNull();
    }

    [Fact]
    public async Task StartRunnerAsync_EngineUnreachable_ThrowsNamingEndpoint()
    {
        fixture.RequireDocker();
        using var api = DockerApi.Connect(new Uri("unix:///tmp/runnerbackends-missing/docker.sock"));
        var sut = CreateSut(api: api);

        var act = () => sut.StartRunnerAsync(fixture.Name("unreachable"), "job=0", Ct);

        var error = (await act.Should().ThrowAsync<DockerEngineUnreachableException>()).Which;
        error.Message.Should().Contain("unix:///tmp/runnerbackends-missing/docker.sock");
        error.Endpoint.Should().Be(new Uri("unix:///tmp/runnerbackends-missing/docker.sock"));
    }

    [Fact]
    public async Task StartRunnerAsync_NameAlreadyUsed_ThrowsConflictAndKeepsFirst()
    {
        var sut = CreateSut();
        var name = fixture.Name("dup");
        var first = await sut.StartRunnerAsync(name, LongJob, Ct);

        var act = () => sut.StartRunnerAsync(name, LongJob, Ct);

        (await act.Should().ThrowAsync<RunnerNameConflictException>()).Which.Message.Should().Contain("RemoveOrphansAsync");
        (await fixture.InspectAsync(first))!.State!.Running.Should().BeTrue();
    }

    [Fact]
    public async Task StartRunnerAsync_Always_JitConfigNeverLogged()
    {
        const string secret = "job=0;secret=Zm9vYmFyLXNlY3JldC1qaXQ";
        var sut = CreateSut();
        var id = await sut.StartRunnerAsync(fixture.Name("secret"), secret, Ct);
        await sut.WaitForExitAsync(id, Ct);
        await sut.RemoveRunnerAsync(id, Ct);
        await FluentActions.Invoking(() => sut.StartRunnerAsync(fixture.Name("secret"), secret + ";x", Ct))
            .Should().NotThrowAsync();
        await sut.ShutdownAsync(Ct);

        _logger.Collector.GetSnapshot().Should().NotBeEmpty();
        _logger.Collector.GetSnapshot().Should().OnlyContain(r => !r.Message.Contains("Zm9vYmFy", StringComparison.Ordinal)
            && (r.Exception == null || !r.Exception.ToString().Contains("Zm9vYmFy", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task RemoveRunnerAsync_Twice_SecondCallSucceedsAndContainerIsGone()
    {
        var sut = CreateSut();
        var id = await sut.StartRunnerAsync(fixture.Name("rm"), LongJob, Ct);

        await sut.RemoveRunnerAsync(id, Ct);
        var again = () => sut.RemoveRunnerAsync(id, Ct);

        await again.Should().NotThrowAsync();
        (await fixture.InspectAsync(id)).Should().BeNull();
    }

    [Theory]
    [InlineData("job=0;exit=3", 3)]
    [InlineData("job=1;exit=0", 0)]
    [InlineData("job=0;exit=42", 42)]
    public async Task WaitForExitAsync_RunnerFinishes_ReturnsItsExitCode(string jit, int expected)
    {
        var sut = CreateSut();
        var id = await sut.StartRunnerAsync(fixture.Name("wait"), jit, Ct);

        var exit = await sut.WaitForExitAsync(id, Ct);

        exit.ExitCode.Should().Be(expected);
    }

    [Fact]
    public async Task WaitForExitAsync_RunnerRemoved_ReturnsUnknownExitCode()
    {
        var sut = CreateSut();
        var id = await sut.StartRunnerAsync(fixture.Name("gone"), "job=0", Ct);
        await sut.WaitForExitAsync(id, Ct);
        await sut.RemoveRunnerAsync(id, Ct);

        var exit = await sut.WaitForExitAsync(id, Ct);

        exit.ExitCode.Should().BeNull();
    }

    [Fact]
    public async Task WaitForExitAsync_RunnerRemovedWhileWaiting_Completes()
    {
        var sut = CreateSut();
        var id = await sut.StartRunnerAsync(fixture.Name("rmwait"), LongJob, Ct);
        var wait = sut.WaitForExitAsync(id, Ct);

        await sut.RemoveRunnerAsync(id, Ct);

        var completed = await Task.WhenAny(wait, Task.Delay(TimeSpan.FromSeconds(30), Ct));
        completed.Should().BeSameAs(wait);
        (await wait).Succeeded.Should().BeFalse();
    }

    [Fact]
    public async Task RemoveOrphansAsync_ContainersOfEarlierInstance_RemovedOthersKept()
    {
        var crashed = CreateSut();
        var orphan = await crashed.StartRunnerAsync(fixture.Name("orphan"), LongJob, Ct);
        var otherOwner = CreateSut(o => o.Owner = fixture.Owner + "-other");
        var foreign = await otherOwner.StartRunnerAsync(fixture.Name("foreign"), LongJob, Ct);
        var sut = CreateSut();
        var mine = await sut.StartRunnerAsync(fixture.Name("mine"), LongJob, Ct);

        var removed = await sut.RemoveOrphansAsync(Ct);

        removed.Should().Contain(orphan).And.NotContain(mine).And.NotContain(foreign);
        (await fixture.InspectAsync(orphan)).Should().BeNull();
        (await fixture.InspectAsync(mine)).Should().NotBeNull();
        (await fixture.InspectAsync(foreign)).Should().NotBeNull();
    }

    [Fact]
    public async Task ShutdownAsync_RunnersHeld_AllRemovedIdempotentAndStartsRefused()
    {
        var sut = CreateSut();
        var a = await sut.StartRunnerAsync(fixture.Name("sd"), LongJob, Ct);
        var b = await sut.StartRunnerAsync(fixture.Name("sd"), LongJob, Ct);

        await sut.ShutdownAsync(Ct);
        await sut.DisposeAsync();

        (await fixture.InspectAsync(a)).Should().BeNull();
        (await fixture.InspectAsync(b)).Should().BeNull();
        await FluentActions.Invoking(() => sut.StartRunnerAsync(fixture.Name("late"), LongJob, Ct)).Should().ThrowAsync<ObjectDisposedException>();
    }

    [Fact]
    public async Task StartRunnerAsync_ManyConcurrently_AllStartAndShutdownRemovesAll()
    {
        var sut = CreateSut();

        var ids = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => sut.StartRunnerAsync(fixture.Name("par" + i.ToString(CultureInfo.InvariantCulture)), LongJob, Ct)));
        await sut.ShutdownAsync(Ct);

        ids.Should().OnlyHaveUniqueItems();
        foreach (var id in ids)
        {
            (await fixture.InspectAsync(id)).Should().BeNull();
        }
    }

    [Fact]
    public async Task StartRunnerAsync_CancelledAtAnyPoint_LeavesNoContainerBehind()
    {
        var owner = fixture.Owner + "-cancel";
        var sut = CreateSut(o => o.Owner = owner);

        for (var delayMs = 0; delayMs <= 120; delayMs += 8)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(delayMs));
            try
            {
                var id = await sut.StartRunnerAsync(fixture.Name("cancel"), LongJob, cts.Token);
                await sut.RemoveRunnerAsync(id, Ct);
            }
            catch (OperationCanceledException)
            {
                // Expected for the short delays: whatever was created must be gone.
            }
        }

        (await OwnedContainersAsync(owner)).Should().BeEmpty();
    }

    [Fact]
    public async Task ShutdownAsync_WhileStartsInFlight_LeavesNoContainerBehind()
    {
        var owner = fixture.Owner + "-race";
        var sut = CreateSut(o => o.Owner = owner);
        var starts = Enumerable.Range(0, 6).Select(i => sut.StartRunnerAsync(fixture.Name("race"), LongJob, Ct)).ToList();
        await Task.Delay(TimeSpan.FromMilliseconds(150), Ct);

        await sut.ShutdownAsync(Ct);
        foreach (var start in starts)
        {
            try
            {
                await start;
            }
            catch (Exception e) when (e is ObjectDisposedException or RunnerBackendException)
            {
                // A start that lost the race with shutdown: it must have cleaned up after itself.
            }
        }

        await sut.ShutdownAsync(Ct);
        (await OwnedContainersAsync(owner)).Should().BeEmpty();
    }

    private async Task<IReadOnlyList<string>> OwnedContainersAsync(string owner)
    {
        var result = await fixture.DockerCliAsync("ps", "-aq", "--filter", $"label={DockerLabels.Owner}={owner}");
        return result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
