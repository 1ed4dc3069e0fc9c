using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging.Testing;
using RunnerBackends.IntegrationTests.TartSimulator;
using RunnerBackends.Tart;

namespace RunnerBackends.IntegrationTests.Tart;

/// <summary>
/// The Tart backend with real processes against the tart simulator: every test has its own TART_HOME, so the tests
/// run in parallel and each one's faults and records are its own.
/// </summary>
public sealed class TartBackendSimulatorTests : IAsyncLifetime
{
    private const string Jit = "eyJTRUNSRVQtSklUIjoic2ltLXRlc3QtMDEyMzQ1Njc4OSJ9";
    private readonly FakeLogger<TartBackend> _logger = new();
    private readonly List<TartBackend> _backends = [];
    private TartSimulatorHome _home = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        TartSimulatorHome.SkipIfUnavailable();
        _home = await TartSimulatorHome.CreateAsync(cancellationToken: Ct);
        _home.Configure("BOOT_MS", "300");
        _home.Configure("JOB_MS", "60000");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var backend in _backends)
        {
            await backend.DisposeAsync();
        }

        if (_home is not null)
        {
            await _home.DisposeAsync();
        }
    }

    [Fact]
    public async Task StartRunnerAsync_ColdStart_RunnerGetsJitConfigThroughStdinAndRuns()
    {
        var sut = CreateSut();

        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);

        id.Should().Be("rb-runner-1");
        _home.RunningVms().Should().Equal(id);
        _home.GuestFile(id, "/tmp/jitconfig.sha256")!.Trim().Should().StartWith(Sha256(Jit));
        var inject = _home.Invocations().Where(i => i is ["exec", "-i", ..]).Should().ContainSingle().Subject;
        inject[2].Should().Be(id);
        await sut.RemoveRunnerAsync(id, Ct);
        _home.Vms().Should().Equal(_home.BaseImage);
    }

    [Fact]
    public async Task StartRunnerAsync_JitConfig_NeverInInvocationsOrLogs()
    {
        var sut = CreateSut();

        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);
        await sut.RemoveRunnerAsync(id, Ct);

        File.ReadAllText(Path.Combine(_home.TartHome, "sim", "invocations.log")).Should().NotContain(Jit);
        _logger.Collector.GetSnapshot().Should().NotContain(r => r.Message.Contains(Jit, StringComparison.Ordinal));
    }

    [Fact]
    public async Task StartRunnerAsync_StableMac_WrittenForTheSlot()
    {
        var sut = CreateSut();

        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);

        // tart run holds a lock on config.json that .NET's own reads respect: read it with cat.
        var config = await new ProcessCommandRunner().RunAsync(new CommandRequest("cat", Path.Combine(_home.TartHome, "vms", id, "config.json")), Ct);
        config.StandardOutput.Should().Contain("\"macAddress\":\"02:00:00:00:00:01\"").And.Contain("\"memorySize\"");
    }

    [Fact]
    public async Task StartRunnerAsync_WarmPool_TakesPooledVmWithAtMostThreeInvocations()
    {
        var sut = CreateSut(o => o.PoolSize = 1);
        sut.StartPool();
        await WaitUntil(() => _logger.Collector.GetSnapshot().Any(r => r.Id.Id == 3010), TimeSpan.FromSeconds(20));
        var before = _home.Invocations().Count;

        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);

        id.Should().StartWith("rb-pool-");
        _home.GuestFile(id, "/tmp/jitconfig.sha256")!.Trim().Should().StartWith(Sha256(Jit));
        _home.Invocations().Skip(before).Count(i => i is ["exec", ..] && i[1] != "true" && !(i.Count == 3 && i[2] == "true"))
            .Should().BeLessThanOrEqualTo(3);
    }

    [Fact]
    public async Task StartRunnerAsync_TwentyConcurrentWithTwoSlots_NeverMoreThanTwoVmsAndAllSucceed()
    {
        _home.Configure("JOB_MS", "100");
        _home.Configure("BOOT_MS", "100");
        var sut = CreateSut();

        var runs = Enumerable.Range(0, 20).Select(async i =>
        {
            var id = await sut.StartRunnerAsync($"runner-{i}", Jit, Ct);
            var exit = await sut.WaitForExitAsync(id, Ct);
            await sut.RemoveRunnerAsync(id, Ct);
            return exit;
        }).ToList();
        var exits = await Task.WhenAll(runs).WaitAsync(TimeSpan.FromMinutes(3), Ct);

        exits.Should().OnlyContain(e => e.ExitCode == 0);
        _home.MaxRunning().Should().BeInRange(1, 2);
        _home.Vms().Should().Equal(_home.BaseImage);
    }

    [Theory]
    [InlineData("FAIL_CLONE", "1")]
    [InlineData("FAIL_SET", "1")]
    [InlineData("FAIL_RUN_START", "1")]
    [InlineData("AGENT_NEVER_READY", "1")]
    [InlineData("FAIL_EXEC", "always")]
    [InlineData("RUNNER_DIES", "1")]
    public async Task StartRunnerAsync_Fault_NothingLeftAndNoSlotLost(string fault, string value)
    {
        _home.Configure("STALL_MS", "400");
        _home.Configure(fault, value);
        var sut = CreateSut(o =>
        {
            o.Cpu = 4;
            o.ReadinessTimeout = TimeSpan.FromSeconds(3);
        });

        var act = () => sut.StartRunnerAsync("runner-1", Jit, Ct);

        var error = (await act.Should().ThrowAsync<RunnerBackendException>()).Which;
        error.ToString().Should().NotContain(Jit);
        _home.Vms().Should().Equal(_home.BaseImage);
        _home.RunningVms().Should().BeEmpty();

        _home.Configure(fault, "0");
        var ids = await Task.WhenAll(Enumerable.Range(0, 2).Select(i => sut.StartRunnerAsync($"after-{i}", Jit, Ct)));
        _home.RunningVms().Should().BeEquivalentTo(ids);
    }

    [Fact]
    public async Task StartRunnerAsync_RunnerDies_ErrorCarriesTheRunnersOutput()
    {
        _home.Configure("RUNNER_DIES", "always");
        var sut = CreateSut();

        var act = () => sut.StartRunnerAsync("runner-1", Jit, Ct);

        (await act.Should().ThrowAsync<RunnerBackendException>()).Which.Message.Should().Contain("RUNNER_DIES");
    }

    [Fact]
    public async Task StartRunnerAsync_AgentNeverReady_NotReadyWithTartsMessage()
    {
        _home.Configure("AGENT_NEVER_READY", "always");
        _home.Configure("STALL_MS", "300");
        var sut = CreateSut(o => o.ReadinessTimeout = TimeSpan.FromSeconds(2));

        var act = () => sut.StartRunnerAsync("runner-1", Jit, Ct);

        (await act.Should().ThrowAsync<RunnerNotReadyException>()).Which.Message.Should().Contain("Guest Agent");
        _home.Vms().Should().Equal(_home.BaseImage);
    }

    [Fact]
    public async Task StartRunnerAsync_CrashAfterBoot_NothingLeftAfterRemoval()
    {
        _home.Configure("CRASH_AFTER_BOOT_MS", "100");
        var sut = CreateSut();

        string? id = null;
        try
        {
            id = await sut.StartRunnerAsync("runner-1", Jit, Ct);
            (await sut.WaitForExitAsync(id, Ct).WaitAsync(TimeSpan.FromSeconds(20), Ct)).ExitCode.Should().BeNull();
            await sut.RemoveRunnerAsync(id, Ct);
        }
        catch (RunnerBackendException)
        {
            // The VM may power off before the runner is up: a failed start, with the same guarantees.
        }

        _home.Vms().Should().Equal(_home.BaseImage);
    }

    [Fact]
    public async Task RemoveRunnerAsync_DeleteFails_SlotReleasedAndLaterRemovalCleansUp()
    {
        var sut = CreateSut(o => o.MaxRunners = 1);
        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);
        _home.Configure("FAIL_DELETE", "1");

        var act = () => sut.RemoveRunnerAsync(id, Ct);

        await act.Should().ThrowAsync<RunnerBackendException>();
        var next = await sut.StartRunnerAsync("runner-2", Jit, Ct);
        await sut.RemoveRunnerAsync(id, Ct);
        await sut.RemoveRunnerAsync(next, Ct);
        _home.Vms().Should().Equal(_home.BaseImage);
    }

    [Fact]
    public async Task WaitForExitAsync_RunnerFinishesJob_ReturnsItsExitCode()
    {
        _home.Configure("JOB_MS", "300");
        _home.Configure("RUNNER_EXIT", "3");
        var sut = CreateSut();
        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);

        var exit = await sut.WaitForExitAsync(id, Ct).WaitAsync(TimeSpan.FromSeconds(20), Ct);

        exit.ExitCode.Should().Be(3);
    }

    [Fact]
    public async Task WaitForExitAsync_VmRemoved_CompletesWithoutExitCode()
    {
        var sut = CreateSut();
        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);

        var wait = sut.WaitForExitAsync(id, Ct);
        await Task.Delay(200, Ct);
        await sut.RemoveRunnerAsync(id, Ct);

        (await wait.WaitAsync(TimeSpan.FromSeconds(20), Ct)).ExitCode.Should().BeNull();
    }

    [Fact]
    public async Task StartPool_PooledVmStops_ReplacedByANewOne()
    {
        var sut = CreateSut(o => o.PoolSize = 1);
        sut.StartPool();
        await WaitUntil(() => _home.RunningVms().Count == 1, TimeSpan.FromSeconds(20));
        var first = _home.RunningVms().Single();

        await RunTart("stop", first);

        await WaitUntil(() => _home.RunningVms() is [var vm] && vm != first && !_home.Vms().Contains(first), TimeSpan.FromSeconds(30));
        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);
        id.Should().NotBe(first);
    }

    [Fact]
    public async Task ShutdownAsync_DuringBoots_NothingLeftBehind()
    {
        _home.Configure("BOOT_MS", "3000");
        var sut = CreateSut(o =>
        {
            o.PoolSize = 1;
            o.MaxRunners = 2;
        });
        sut.StartPool();
        var start = sut.StartRunnerAsync("runner-1", Jit, Ct);
        await WaitUntil(() => _home.RunningVms().Count == 2, TimeSpan.FromSeconds(20));

        await sut.ShutdownAsync(Ct);

        await FluentActions.Awaiting(() => start).Should().ThrowAsync<RunnerBackendException>();
        _home.Vms().Should().Equal(_home.BaseImage);
        _home.RunningVms().Should().BeEmpty();
        await FluentActions.Awaiting(() => sut.StartRunnerAsync("runner-2", Jit, Ct)).Should().ThrowAsync<ObjectDisposedException>();
    }

    [Fact]
    public async Task ShutdownAsync_WithRunnersAndPool_RemovesEverything()
    {
        var sut = CreateSut(o =>
        {
            o.PoolSize = 1;
            o.MaxRunners = 2;
        });
        sut.StartPool();
        await sut.StartRunnerAsync("runner-1", Jit, Ct);
        await WaitUntil(() => _home.RunningVms().Count == 2, TimeSpan.FromSeconds(20));

        await sut.ShutdownAsync(Ct);
        await sut.DisposeAsync();

        _home.Vms().Should().Equal(_home.BaseImage);
    }

    [Fact]
    public async Task RemoveOrphansAsync_RemovesLeftoversWithPrefixOnly()
    {
        await RunTart("clone", _home.BaseImage, "rb-leftover");
        await RunTart("clone", _home.BaseImage, "other-vm");
        var sut = CreateSut();
        var ours = await sut.StartRunnerAsync("runner-1", Jit, Ct);

        var removed = await sut.RemoveOrphansAsync(Ct);

        removed.Should().Equal("rb-leftover");
        _home.Vms().Should().BeEquivalentTo(_home.BaseImage, "other-vm", ours);
    }

    [Fact]
    public async Task EnsureImageAsync_MissingImage_PullsWithProgressThenFindsIt()
    {
        var sut = CreateSut(o => o.BaseImage = "ghcr.io/example/runner-image:1");
        var lines = new List<string>();

        await sut.EnsureImageAsync(new SyncProgress(lines.Add), Ct);
        await sut.EnsureImageAsync(null, Ct);

        lines.Should().NotBeEmpty();
        _home.Invocations().Count(i => i is ["pull", ..]).Should().Be(1);
    }

    [Fact]
    public async Task EnsureImageAsync_PresentLocalImage_NoPull()
    {
        var sut = CreateSut();

        await sut.EnsureImageAsync(null, Ct);

        _home.Invocations().Should().NotContain(i => i.Count > 0 && i[0] == "pull");
    }

    private TartBackend CreateSut(Action<TartBackendOptions>? configure = null)
    {
        var options = new TartBackendOptions
        {
            BaseImage = _home.BaseImage,
            RunnerDirectory = _home.RunnerDirectory,
            TartPath = _home.TartPath,
            TartHome = _home.TartHome,
            VmNamePrefix = "rb",
            ReadinessTimeout = TimeSpan.FromSeconds(20),
            ProbeInitialDelay = TimeSpan.FromMilliseconds(50),
            ProbeMaxDelay = TimeSpan.FromMilliseconds(250),
            ProbeAttemptTimeout = TimeSpan.FromSeconds(2),
            RefillInitialDelay = TimeSpan.FromMilliseconds(100),
            RefillMaxDelay = TimeSpan.FromMilliseconds(500),
            ExitPollInterval = TimeSpan.FromMilliseconds(100),
            RunnerStartTimeout = TimeSpan.FromSeconds(10),
        };
        configure?.Invoke(options);
        var backend = new TartBackend(options, _logger);
        _backends.Add(backend);
        return backend;
    }

    private async Task RunTart(params string[] arguments)
    {
        await new ProcessCommandRunner().RunAsync(
            new CommandRequest(_home.TartPath, arguments) { Environment = _home.Environment },
            Ct);
    }

    private static string Sha256(string value) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)));

    private static async Task WaitUntil(Func<bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50, Ct);
        }

        condition().Should().BeTrue();
    }

    private sealed class SyncProgress(Action<string> onReport) : IProgress<string>
    {
        public void Report(string value) => onReport(value);
    }
}
