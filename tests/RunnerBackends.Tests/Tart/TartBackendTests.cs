using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Moq;
using RunnerBackends.Tart;

namespace RunnerBackends.Tests.Tart;

// These tests drive FakeTimeProvider from real-time steps; they run alone, so other classes cannot starve them.
[Collection(TartBackendTestsCollection.Name)]
public sealed class TartBackendTests : IDisposable
{
    private const string Jit = "SECRET-JIT-eyJhbGciOi-0123456789";
    private readonly FakeTart _tart = new();
    private readonly FakeLogger<TartBackend> _logger = new();

    public void Dispose() => _tart.Dispose();

    [Theory]
    [InlineData("")]
    [InlineData("-rm")]
    [InlineData("a b")]
    [InlineData("../x")]
    public async Task StartRunnerAsync_InvalidName_ThrowsBeforeAnyCommand(string name)
    {
        await using var sut = CreateSut();

        var act = () => sut.StartRunnerAsync(name, Jit, Ct);

        await act.Should().ThrowAsync<ArgumentException>();
        _tart.Calls.Should().BeEmpty();
    }

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public async Task StartRunnerAsync_EmptyJitConfig_ThrowsBeforeAnyCommand(string jit)
    {
        await using var sut = CreateSut();

        var act = () => sut.StartRunnerAsync("runner-1", jit, Ct);

        (await act.Should().ThrowAsync<ArgumentException>()).Which.ParamName.Should().Be("jitConfig");
        _tart.Calls.Should().BeEmpty();
    }

    [Fact]
    public async Task StartRunnerAsync_ColdStart_ClonesRunsProbesAndStartsRunnerWithOneExec()
    {
        await using var sut = CreateSut();

        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);

        id.Should().Be("rbt-runner-1");
        var verbs = _tart.Calls.Select(c => c.Arguments[0]).ToList();
        verbs.Should().StartWith(["clone", "run", "exec", "exec"]);
        _tart.Named("clone").Single().Arguments.Should().Equal("clone", "macos-base", "rbt-runner-1");
        _tart.Named("run").Single().Arguments.Should().Equal("run", "rbt-runner-1", "--no-graphics");
        _tart.Named("set").Should().BeEmpty();
        var inject = _tart.Injections.Single();
        inject.Arguments.Take(5).Should().Equal("exec", "-i", "rbt-runner-1", "sh", "-c");
        inject.Arguments.Skip(6).Should().Equal("sh", "/Users/admin/actions-runner", "5");
        inject.StandardInput.Should().Be(Jit + "\n");
        sut.SlotsInUse.Should().Be(1);
    }

    [Fact]
    public async Task StartRunnerAsync_EveryCall_CarriesTartHome()
    {
        await using var sut = CreateSut();

        await sut.StartRunnerAsync("runner-1", Jit, Ct);

        _tart.Calls.Should().OnlyContain(c => c.FileName == "tart" && c.Environment != null && c.Environment["TART_HOME"] == _tart.TartHome);
    }

    [Fact]
    public async Task StartRunnerAsync_JitConfig_NeverInArgumentsLogsOrErrors()
    {
        _tart.Inject = (r, _) => FakeTart.Fail(r, 4, "The runner exited with code 1 as it started. Last lines: boom");
        await using var sut = CreateSut();

        var act = () => sut.StartRunnerAsync("runner-1", Jit, Ct);

        var error = (await act.Should().ThrowAsync<RunnerBackendException>()).Which;
        error.ToString().Should().NotContain(Jit);
        _tart.Calls.SelectMany(c => c.Arguments).Should().NotContain(a => a.Contains(Jit, StringComparison.Ordinal));
        _tart.Calls.Where(c => c.StandardInput != null).Should().OnlyContain(c => c.Arguments[1] == "-i");
        _logger.Collector.GetSnapshot().Should().NotContain(r => r.Message.Contains(Jit, StringComparison.Ordinal)
            || (r.Exception != null && r.Exception.ToString().Contains(Jit, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task StartRunnerAsync_CpuAndMemory_RunsSetAfterClone()
    {
        await using var sut = CreateSut(o =>
        {
            o.Cpu = 4;
            o.MemoryMB = 8192;
        });

        await sut.StartRunnerAsync("runner-1", Jit, Ct);

        _tart.Calls.Select(c => c.Arguments[0]).Should().StartWith(["clone", "set", "run"]);
        _tart.Named("set").Single().Arguments.Should().Equal("set", "rbt-runner-1", "--cpu", "4", "--memory", "8192");
    }

    [Fact]
    public async Task StartRunnerAsync_StableMac_WrittenIntoConfigJsonKeepingOtherFields()
    {
        await using var sut = CreateSut();

        await sut.StartRunnerAsync("runner-1", Jit, Ct);
        await sut.StartRunnerAsync("runner-2", Jit, Ct);

        var first = ReadConfig("rbt-runner-1");
        var second = ReadConfig("rbt-runner-2");
        first["macAddress"]!.GetValue<string>().Should().Be("02:00:00:00:00:01");
        second["macAddress"]!.GetValue<string>().Should().Be("02:00:00:00:00:02");
        first["memorySize"]!.GetValue<long>().Should().Be(8589934592);
        first["display"]!["width"]!.GetValue<int>().Should().Be(1024);
    }

    [Fact]
    public async Task StartRunnerAsync_StableMacOff_ConfigUntouched()
    {
        await using var sut = CreateSut(o => o.AssignStableMacAddresses = false);

        await sut.StartRunnerAsync("runner-1", Jit, Ct);

        ReadConfig("rbt-runner-1")["macAddress"]!.GetValue<string>().Should().Be("7e:1c:f2:4a:78:30");
    }

    [Fact]
    public async Task StartRunnerAsync_VmNameExistsOnDisk_ThrowsWithoutCloning()
    {
        Directory.CreateDirectory(Path.Combine(_tart.TartHome, "vms", "rbt-runner-1"));
        await using var sut = CreateSut();

        var act = () => sut.StartRunnerAsync("runner-1", Jit, Ct);

        (await act.Should().ThrowAsync<RunnerBackendException>()).Which.Message.Should().Contain("already exists");
        _tart.Calls.Should().BeEmpty();
        sut.SlotsInUse.Should().Be(0);
    }

    [Fact]
    public async Task StartRunnerAsync_SameNameTwice_SecondRefusedFirstKept()
    {
        await using var sut = CreateSut();
        await sut.StartRunnerAsync("runner-1", Jit, Ct);

        var act = () => sut.StartRunnerAsync("runner-1", Jit, Ct);

        await act.Should().ThrowAsync<RunnerBackendException>();
        _tart.Named("clone").Should().HaveCount(1);
        _tart.Named("delete").Should().BeEmpty();
        sut.SlotsInUse.Should().Be(1);
    }

    [Fact]
    public async Task StartRunnerAsync_LongName_VmNameShortenedWithinLimit()
    {
        await using var sut = CreateSut();
        var name = new string('r', 64);

        var id = await sut.StartRunnerAsync(name, Jit, Ct);

        id.Length.Should().BeLessThanOrEqualTo(64);
        id.Should().StartWith("rbt-rrrr");
        RunnerName.IsValid(id).Should().BeTrue();
    }

    [Fact]
    public async Task StartRunnerAsync_CloneFails_ErrorCarriesStderrAndSlotReleased()
    {
        _tart.Clone = (r, _) => FakeTart.Fail(r, 2, "the specified VM \"macos-base\" does not exist");
        await using var sut = CreateSut();

        var act = () => sut.StartRunnerAsync("runner-1", Jit, Ct);

        (await act.Should().ThrowAsync<RunnerBackendException>()).Which.Message.Should().Contain("does not exist");
        sut.SlotsInUse.Should().Be(0);
        _tart.Named("run").Should().BeEmpty();
        _tart.Named("delete").Should().ContainSingle();
    }

    [Fact]
    public async Task StartRunnerAsync_RunExitsWhileBooting_StopsProbingAtOnceWithTartsError()
    {
        _tart.RunFailure = "The number of VMs exceeds the system limit (other running VMs: a, b)";
        _tart.Probe = (r, _) => FakeTart.Fail(r, 1, "Failed to connect to the VM using its control socket");
        await using var sut = CreateSut(o => o.ReadinessTimeout = TimeSpan.FromMinutes(1));

        var act = () => sut.StartRunnerAsync("runner-1", Jit, Ct);

        var error = (await act.Should().ThrowAsync<RunnerNotReadyException>().WaitAsync(TimeSpan.FromSeconds(10), Ct)).Which;
        error.Message.Should().Contain("stopped while booting").And.Contain("exceeds the system limit");
        sut.SlotsInUse.Should().Be(0);
        _tart.ExistingVms().Should().BeEmpty();
    }

    [Fact]
    public async Task StartRunnerAsync_SystemLimitOnce_RunRetriedAndStartSucceeds()
    {
        _tart.RunFailure = "The number of VMs exceeds the system limit (other running VMs: a, b)";
        _tart.Probe = (r, _) =>
        {
            if (_tart.RunFailure is null)
            {
                return Task.FromResult(FakeTart.Ok());
            }

            _tart.RunFailure = null;
            return FakeTart.Fail(r, 1, "Failed to connect to the VM using its control socket");
        };
        await using var sut = CreateSut();

        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);

        id.Should().Be("rbt-runner-1");
        _tart.Named("run").Should().HaveCount(2);
        _tart.Named("clone").Should().HaveCount(1);
    }

    [Fact]
    public async Task StartRunnerAsync_AgentNeverReady_NotReadyAfterReadinessTimeoutWithAdvice()
    {
        var time = new FakeTimeProvider();
        _tart.Probe = (r, _) => FakeTart.Fail(r, 1, "Failed to connect to the VM using its control socket: is the Tart Guest Agent running?");
        await using var sut = CreateSut(o => o.ReadinessTimeout = TimeSpan.FromSeconds(10), time);

        var start = sut.StartRunnerAsync("runner-1", Jit, Ct);
        await Drive(time, start, TimeSpan.FromMilliseconds(50));

        var error = (await FluentActions.Awaiting(() => start).Should().ThrowAsync<RunnerNotReadyException>()).Which;
        error.Message.Should().Contain("Tart Guest Agent").And.Contain("ReadinessTimeout").And.Contain("control socket");
        time.GetUtcNow().Should().BeOnOrAfter(new FakeTimeProvider().GetUtcNow() + TimeSpan.FromSeconds(10));
        sut.SlotsInUse.Should().Be(0);
        _tart.ExistingVms().Should().BeEmpty();
        _tart.RunningVms().Should().BeEmpty();
    }

    [Fact]
    public async Task StartRunnerAsync_StalledProbe_AbandonedAfterAttemptTimeoutAndRetried()
    {
        var time = new FakeTimeProvider();
        var calls = 0;
        _tart.Probe = (r, ct) => Interlocked.Increment(ref calls) == 1
            ? Task.Delay(Timeout.Infinite, ct).ContinueWith(_ => FakeTart.Ok(), ct)
            : Task.FromResult(FakeTart.Ok());
        await using var sut = CreateSut(o => o.ProbeAttemptTimeout = TimeSpan.FromSeconds(2), time);

        var start = sut.StartRunnerAsync("runner-1", Jit, Ct);
        await Drive(time, start, TimeSpan.FromMilliseconds(100));

        (await start).Should().Be("rbt-runner-1");
        calls.Should().Be(2);
    }

    [Fact]
    public async Task StartRunnerAsync_ProbeBackoff_ExponentialWithJitterCappedAtMaxDelay()
    {
        var time = new FakeTimeProvider();
        var readyAt = time.GetUtcNow() + TimeSpan.FromSeconds(8);
        _tart.Probe = (r, _) => time.GetUtcNow() < readyAt ? FakeTart.Fail(r, 1, "not yet") : Task.FromResult(FakeTart.Ok());
        await using var sut = CreateSut(
            o =>
            {
                o.ProbeInitialDelay = TimeSpan.FromMilliseconds(150);
                o.ProbeMaxDelay = TimeSpan.FromSeconds(1);
                o.ReadinessTimeout = TimeSpan.FromMinutes(1);
                o.Randomizer = () => 0.5;
            },
            time);

        var start = sut.StartRunnerAsync("runner-1", Jit, Ct);
        await Drive(time, start, TimeSpan.FromMilliseconds(10));
        await start;

        var delays = ProbeDelays();
        delays.Should().HaveCountGreaterThan(5);
        delays[0].Should().BeInRange(50, 400);
        delays.Should().OnlyContain(d => d <= 1000);
        delays.TakeLast(3).Should().OnlyContain(d => d == 1000);
        delays.Take(4).Should().BeInAscendingOrder();
    }

    [Fact]
    public async Task StartRunnerAsync_ThirtySecondBoot_AtMostFortyProbesWithDefaults()
    {
        var time = new FakeTimeProvider();
        var readyAt = time.GetUtcNow() + TimeSpan.FromSeconds(30);
        _tart.Probe = (r, _) => time.GetUtcNow() < readyAt ? FakeTart.Fail(r, 1, "not yet") : Task.FromResult(FakeTart.Ok());
        var options = new TartBackendOptions { BaseImage = "macos-base", TartHome = _tart.TartHome, VmNamePrefix = "rbt" };
        await using var sut = new TartBackend(options, _logger, _tart.Mock.Object, time);

        var start = sut.StartRunnerAsync("runner-1", Jit, Ct);
        await Drive(time, start, TimeSpan.FromMilliseconds(25));
        await start;

        _tart.Probes.Count().Should().BeInRange(20, 40);
        var detected = time.GetUtcNow() - readyAt;
        detected.Should().BeLessThan(TimeSpan.FromSeconds(1.1));
    }

    [Fact]
    public async Task StartRunnerAsync_SecondBoot_ProbesDenselyAroundTheLearnedBootTime()
    {
        var time = new FakeTimeProvider();
        var bootTime = TimeSpan.FromSeconds(6);
        var runStarts = new Dictionary<string, DateTimeOffset>();
        _tart.Probe = (r, _) => time.GetUtcNow() - runStarts[r.Arguments[1]] < bootTime ? FakeTart.Fail(r, 1, "not yet") : Task.FromResult(FakeTart.Ok());
        _tart.Set = (_, _) => Task.FromResult(FakeTart.Ok());
        await using var sut = CreateSut(
            o =>
            {
                o.ProbeInitialDelay = TimeSpan.FromMilliseconds(150);
                o.ProbeMaxDelay = TimeSpan.FromSeconds(1);
                o.ReadinessTimeout = TimeSpan.FromMinutes(1);
            },
            time);
        _tart.Clone = (r, _) =>
        {
            Directory.CreateDirectory(Path.Combine(_tart.TartHome, "vms", r.Arguments[2]));
            runStarts[r.Arguments[2]] = time.GetUtcNow();
            return Task.FromResult(FakeTart.Ok());
        };

        var lags = new List<TimeSpan>();
        for (var i = 0; i < 4; i++)
        {
            var start = sut.StartRunnerAsync($"runner-{i}", Jit, Ct);
            await Drive(time, start, TimeSpan.FromMilliseconds(10));
            var id = await start;
            lags.Add(time.GetUtcNow() - runStarts[id] - bootTime);
            await sut.RemoveRunnerAsync(id, Ct);
        }

        sut.ExpectedBootTime.Should().NotBeNull();
        sut.ExpectedBootTime!.Value.Should().BeCloseTo(bootTime, TimeSpan.FromSeconds(1));
        lags.Skip(1).Should().OnlyContain(l => l < TimeSpan.FromMilliseconds(400));
    }

    [Fact]
    public async Task StartRunnerAsync_CancelledWhileCloning_VmRemovedAndSlotReleased()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        _tart.Clone = (r, ct) =>
        {
            Directory.CreateDirectory(Path.Combine(_tart.TartHome, "vms", r.Arguments[2]));
            cts.Cancel();
            return Task.FromCanceled<CommandResult>(ct);
        };
        await using var sut = CreateSut();

        var act = () => sut.StartRunnerAsync("runner-1", Jit, cts.Token);

        await act.Should().ThrowAsync<OperationCanceledException>();
        sut.SlotsInUse.Should().Be(0);
        _tart.ExistingVms().Should().BeEmpty();
    }

    [Fact]
    public async Task StartRunnerAsync_CancelledWhileProbing_OperationCanceledAndNothingLeft()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        _tart.Probe = (r, _) =>
        {
            cts.Cancel();
            return FakeTart.Fail(r, 1, "not yet");
        };
        await using var sut = CreateSut();

        var act = () => sut.StartRunnerAsync("runner-1", Jit, cts.Token);

        await act.Should().ThrowAsync<OperationCanceledException>();
        sut.SlotsInUse.Should().Be(0);
        _tart.ExistingVms().Should().BeEmpty();
        _tart.RunningVms().Should().BeEmpty();
    }

    [Fact]
    public async Task StartRunnerAsync_CancelledWhileStartingRunner_OperationCanceledAndNothingLeft()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        _tart.Inject = (_, ct) =>
        {
            cts.Cancel();
            return Task.FromCanceled<CommandResult>(ct);
        };
        await using var sut = CreateSut();

        var act = () => sut.StartRunnerAsync("runner-1", Jit, cts.Token);

        await act.Should().ThrowAsync<OperationCanceledException>();
        sut.SlotsInUse.Should().Be(0);
        _tart.ExistingVms().Should().BeEmpty();
        _tart.RunningVms().Should().BeEmpty();
    }

    [Fact]
    public async Task StartRunnerAsync_CancelledWhileWaitingForSlot_NothingCreated()
    {
        await using var sut = CreateSut(o => o.MaxRunners = 1);
        await sut.StartRunnerAsync("runner-1", Jit, Ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var second = sut.StartRunnerAsync("runner-2", Jit, cts.Token);
        await Task.Delay(50, Ct);
        second.IsCompleted.Should().BeFalse();
        await cts.CancelAsync();

        await FluentActions.Awaiting(() => second).Should().ThrowAsync<OperationCanceledException>();
        _tart.Named("clone").Should().HaveCount(1);
        sut.SlotsInUse.Should().Be(1);
    }

    [Fact]
    public async Task StartRunnerAsync_RunnerDiesAtStart_FailsWithLogTailAndRemovesVm()
    {
        _tart.Inject = (r, _) => FakeTart.Fail(r, 4, "The runner exited with code 1 as it started. Last lines of /tmp/runnerbackends/runner.log:\nInvalid configuration provided for jitconfig");
        await using var sut = CreateSut();

        var act = () => sut.StartRunnerAsync("runner-1", Jit, Ct);

        (await act.Should().ThrowAsync<RunnerBackendException>()).Which.Message
            .Should().Contain("did not start").And.Contain("Invalid configuration provided");
        sut.SlotsInUse.Should().Be(0);
        _tart.ExistingVms().Should().BeEmpty();
        _tart.RunningVms().Should().BeEmpty();
    }

    [Fact]
    public async Task StartRunnerAsync_MaxRunnersReached_WaitsForRemoval()
    {
        await using var sut = CreateSut(o => o.MaxRunners = 1);
        var first = await sut.StartRunnerAsync("runner-1", Jit, Ct);

        var second = sut.StartRunnerAsync("runner-2", Jit, Ct);
        await Task.Delay(100, Ct);
        second.IsCompleted.Should().BeFalse();
        _tart.RunningVms().Should().HaveCount(1);
        await sut.RemoveRunnerAsync(first, Ct);

        (await second.WaitAsync(TimeSpan.FromSeconds(10), Ct)).Should().Be("rbt-runner-2");
        ReadConfig("rbt-runner-2")["macAddress"]!.GetValue<string>().Should().Be("02:00:00:00:00:01");
    }

    [Fact]
    public async Task RemoveRunnerAsync_Runner_StopsThenDeletesAndReleasesSlot()
    {
        await using var sut = CreateSut();
        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);

        await sut.RemoveRunnerAsync(id, Ct);

        var verbs = _tart.Calls.Select(c => c.Arguments[0]).ToList();
        verbs.IndexOf("stop").Should().BeLessThan(verbs.IndexOf("delete"));
        sut.SlotsInUse.Should().Be(0);
        _tart.ExistingVms().Should().BeEmpty();
    }

    [Fact]
    public async Task RemoveRunnerAsync_Twice_SecondIsSuccess()
    {
        await using var sut = CreateSut();
        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);
        await sut.RemoveRunnerAsync(id, Ct);

        var act = () => sut.RemoveRunnerAsync(id, Ct);

        await act.Should().NotThrowAsync();
        sut.SlotsInUse.Should().Be(0);
    }

    [Fact]
    public async Task RemoveRunnerAsync_DeleteFails_SlotReleasedAndErrorCarriesStderr()
    {
        _tart.Delete = (r, _) => FakeTart.Fail(r, 1, "disk I/O error");
        await using var sut = CreateSut(o => o.MaxRunners = 1);
        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);

        var act = () => sut.RemoveRunnerAsync(id, Ct);

        (await act.Should().ThrowAsync<RunnerBackendException>()).Which.Message.Should().Contain("disk I/O error");
        sut.SlotsInUse.Should().Be(0);
        _tart.Delete = null;
        (await sut.StartRunnerAsync("runner-2", Jit, Ct)).Should().Be("rbt-runner-2");
    }

    [Fact]
    public async Task RemoveRunnerAsync_UnknownNameWithoutPrefix_LeavesItAlone()
    {
        await using var sut = CreateSut();

        await sut.RemoveRunnerAsync("macos-base", Ct);

        _tart.Calls.Should().BeEmpty();
    }

    [Fact]
    public async Task RemoveRunnerAsync_UnknownPrefixedName_StopsAndDeletesByName()
    {
        Directory.CreateDirectory(Path.Combine(_tart.TartHome, "vms", "rbt-left"));
        await using var sut = CreateSut();

        await sut.RemoveRunnerAsync("rbt-left", Ct);

        _tart.ExistingVms().Should().BeEmpty();
    }

    [Fact]
    public async Task WaitForExitAsync_RunnerExits_ReturnsItsExitCode()
    {
        _tart.WaitExit = (_, _) => Task.FromResult(FakeTart.Ok("3\n"));
        await using var sut = CreateSut();
        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);

        var exit = await sut.WaitForExitAsync(id, Ct);

        exit.ExitCode.Should().Be(3);
        var wait = _tart.Calls.Last(c => c.Arguments[0] == "exec");
        wait.Arguments.Take(4).Should().Equal("exec", id, "sh", "-c");
        wait.StandardInput.Should().BeNull();
    }

    [Fact]
    public async Task WaitForExitAsync_VmStops_ReturnsUnknownExitCode()
    {
        _tart.WaitExit = (_, ct) => Task.Delay(Timeout.Infinite, ct).ContinueWith(_ => FakeTart.Ok(), ct);
        await using var sut = CreateSut();
        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);

        var wait = sut.WaitForExitAsync(id, Ct);
        _tart.Crash(id);

        (await wait.WaitAsync(TimeSpan.FromSeconds(10), Ct)).ExitCode.Should().BeNull();
    }

    [Fact]
    public async Task WaitForExitAsync_UnknownVm_ReturnsUnknownExitCode()
    {
        _tart.WaitExit = (r, _) => FakeTart.Fail(r, 2, "the specified VM \"rbt-x\" does not exist");
        await using var sut = CreateSut();

        (await sut.WaitForExitAsync("rbt-x", Ct)).ExitCode.Should().BeNull();
    }

    [Fact]
    public async Task WaitForExitAsync_TransientExecFailure_Retried()
    {
        var calls = 0;
        _tart.WaitExit = (r, _) => Interlocked.Increment(ref calls) == 1 ? FakeTart.Fail(r, 1, "connection reset") : Task.FromResult(FakeTart.Ok("0"));
        await using var sut = CreateSut();
        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);

        (await sut.WaitForExitAsync(id, Ct)).ExitCode.Should().Be(0);
        calls.Should().Be(2);
    }

    [Fact]
    public async Task RemoveOrphansAsync_RemovesOnlyUnknownLocalVmsWithPrefix()
    {
        await using var sut = CreateSut();
        var ours = await sut.StartRunnerAsync("runner-1", Jit, Ct);
        foreach (var name in new[] { "rbt-old-1", "rbt-pool-abc-2", "rbtx-other", "other-vm" })
        {
            Directory.CreateDirectory(Path.Combine(_tart.TartHome, "vms", name));
        }

        _tart.ListJson = $$"""
            [
              {"Name":"{{ours}}","Source":"local","Running":true,"State":"running","Disk":50,"Size":20,"Accessed":"2026-01-01T00:00:00Z"},
              {"State":"stopped","Running":false,"Source":"local","Name":"rbt-old-1"},
              {"Name":"rbt-pool-abc-2","Source":"local","Running":true,"State":"running"},
              {"Name":"rbtx-other","Source":"local","Running":false,"State":"stopped"},
              {"Name":"other-vm","Source":"local","Running":false,"State":"stopped"},
              {"Name":"ghcr.io/x/rbt-image:latest","Source":"OCI","Running":false,"State":"stopped"}
            ]
            """;

        var removed = await sut.RemoveOrphansAsync(Ct);

        removed.Should().BeEquivalentTo("rbt-old-1", "rbt-pool-abc-2");
        _tart.ExistingVms().Should().BeEquivalentTo(ours, "rbtx-other", "other-vm");
        _tart.Named("stop").Select(c => c.Arguments[1]).Should().NotContain(ours);
    }

    [Fact]
    public async Task EnsureImageAsync_ExactNamePresent_DoesNotPull()
    {
        _tart.ListJson = """[{"Name":"macos-base","Source":"local","Running":false}]""";
        await using var sut = CreateSut();

        await sut.EnsureImageAsync(null, Ct);

        _tart.Named("pull").Should().BeEmpty();
        _tart.Named("list").Single().Arguments.Should().Equal("list", "--format", "json");
    }

    [Fact]
    public async Task EnsureImageAsync_OnlySubstringPresent_PullsReportingProgress()
    {
        _tart.ListJson = """[{"Name":"macos-base-old","Source":"local","Running":false},{"Name":"x/macos-base:1","Source":"OCI","Running":false}]""";
        _tart.Pull = (_, output, _) =>
        {
            output.Report("pulling manifest...");
            output.Report("pulling disk (20.0 GB compressed)... 100%");
            return Task.FromResult(FakeTart.Ok());
        };
        var lines = new List<string>();
        await using var sut = CreateSut();

        await sut.EnsureImageAsync(new SyncProgress(lines.Add), Ct);

        _tart.Named("pull").Single().Arguments.Should().Equal("pull", "macos-base");
        lines.Should().Equal("pulling manifest...", "pulling disk (20.0 GB compressed)... 100%");
        _logger.Collector.GetSnapshot().Should().Contain(r => r.Message.Contains("pulling manifest", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EnsureImageAsync_PullFails_ErrorCarriesStderr()
    {
        _tart.Pull = (r, _, _) => FakeTart.Fail(r, 1, "unauthorized: authentication required");
        await using var sut = CreateSut();

        var act = () => sut.EnsureImageAsync(null, Ct);

        (await act.Should().ThrowAsync<RunnerBackendException>()).Which.Message.Should().Contain("unauthorized");
    }

    [Fact]
    public async Task EnsureImageAsync_TartMissing_ErrorNamesTartPath()
    {
        _tart.Mock.Reset();
        _tart.Mock.Setup(r => r.RunAsync(It.IsAny<CommandRequest>(), It.IsAny<CancellationToken>()))
            .ThrowsAsync(new CommandNotFoundException("/opt/no/tart", new System.ComponentModel.Win32Exception(2)));
        await using var sut = CreateSut(o => o.TartPath = "/opt/no/tart");

        var act = () => sut.EnsureImageAsync(null, Ct);

        (await act.Should().ThrowAsync<RunnerBackendException>()).Which.Message.Should().Contain("TartPath").And.Contain("/opt/no/tart");
    }

    [Fact]
    public async Task StartRunnerAsync_TartMissing_ErrorNamesTartPathAndNothingIsLeftToClean()
    {
        _tart.Mock.Reset();
        _tart.Mock.Setup(r => r.RunAsync(It.IsAny<CommandRequest>(), It.IsAny<CancellationToken>()))
            .Callback((CommandRequest request, CancellationToken _) => _tart.Calls.Enqueue(request))
            .ThrowsAsync(new CommandNotFoundException("/opt/no/tart", new System.ComponentModel.Win32Exception(2)));
        await using var sut = CreateSut(o => o.TartPath = "/opt/no/tart");

        var act = () => sut.StartRunnerAsync("runner-1", Jit, Ct);

        (await act.Should().ThrowAsync<RunnerBackendException>()).Which.Message.Should().Contain("TartPath").And.Contain("/opt/no/tart");
        _tart.Calls.Select(c => c.Arguments[0]).Should().Equal("clone");
        sut.SlotsInUse.Should().Be(0);
    }

    [Fact]
    public async Task StartPool_BootsPoolSizeVmsAndWarmStartUsesOneExec()
    {
        await using var sut = CreateSut(o => o.PoolSize = 2);
        sut.StartPool();
        await WaitUntil(() => _tart.Probes.Count() >= 2 && _tart.RunningVms().Count == 2);
        await Task.Delay(50, Ct);
        var before = _tart.Calls.Count;

        var id = await sut.StartRunnerAsync("runner-1", Jit, Ct);

        id.Should().StartWith("rbt-pool-");
        var during = _tart.Calls.Skip(before).ToList();
        during.Where(c => c.Arguments[0] != "clone" && c.Arguments[0] != "run" && c.Arguments is not ["exec", _, "true"])
            .Should().ContainSingle().Which.Arguments[1].Should().Be("-i");
    }

    [Fact]
    public async Task StartPool_Twice_StartsOneSetOfLoops()
    {
        await using var sut = CreateSut(o => o.PoolSize = 1);

        sut.StartPool();
        sut.StartPool();
        await WaitUntil(() => _tart.RunningVms().Count == 1);
        await Task.Delay(100, Ct);

        _tart.Named("clone").Should().HaveCount(1);
    }

    [Fact]
    public async Task StartPool_TakenVm_Replaced()
    {
        await using var sut = CreateSut(o =>
        {
            o.PoolSize = 1;
            o.MaxRunners = 2;
        });
        sut.StartPool();
        await WaitUntil(() => _tart.RunningVms().Count == 1);

        await sut.StartRunnerAsync("runner-1", Jit, Ct);

        await WaitUntil(() => _tart.RunningVms().Count == 2);
        _tart.Named("clone").Should().HaveCount(2);
    }

    [Fact]
    public async Task StartPool_IdleVmStops_DestroyedAndReplaced()
    {
        await using var sut = CreateSut(o => o.PoolSize = 1);
        sut.StartPool();
        await WaitUntil(() => _tart.RunningVms().Count == 1);
        var first = _tart.RunningVms().Single();

        _tart.Crash(first);

        await WaitUntil(() => _tart.RunningVms().Count == 1 && _tart.RunningVms().Single() != first);
        await WaitUntil(() => !_tart.ExistingVms().Contains(first));
        sut.SlotsInUse.Should().Be(1);
    }

    [Fact]
    public async Task StartPool_PoolHoldsEverySlot_StartWaitsForPooledVmInsteadOfColdStart()
    {
        await using var sut = CreateSut(o =>
        {
            o.PoolSize = 1;
            o.MaxRunners = 1;
        });
        sut.StartPool();
        var first = await sut.StartRunnerAsync("runner-1", Jit, Ct);

        var second = sut.StartRunnerAsync("runner-2", Jit, Ct);
        await Task.Delay(100, Ct);
        second.IsCompleted.Should().BeFalse();
        await sut.RemoveRunnerAsync(first, Ct);

        (await second.WaitAsync(TimeSpan.FromSeconds(10), Ct)).Should().StartWith("rbt-pool-");
        _tart.Named("clone").Select(c => c.Arguments[2]).Should().OnlyContain(n => n.StartsWith("rbt-pool-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StartPool_FailingImage_RetriesWithGrowingBackoffNotAHotLoop()
    {
        var time = new FakeTimeProvider();
        _tart.Clone = (r, _) => FakeTart.Fail(r, 1, "clone failed");
        await using var sut = CreateSut(
            o =>
            {
                o.PoolSize = 1;
                o.RefillInitialDelay = TimeSpan.FromSeconds(1);
                o.RefillMaxDelay = TimeSpan.FromSeconds(30);
            },
            time);
        sut.StartPool();

        for (var i = 0; i < 1200; i++)
        {
            await Task.Delay(1, Ct);
            time.Advance(TimeSpan.FromMilliseconds(100));
        }

        var clones = _tart.Named("clone").Count();
        clones.Should().BeInRange(3, 20, "two minutes of a failing image with 1 s to 30 s backoff");
        sut.SlotsInUse.Should().Be(0);
    }

    [Fact]
    public async Task ShutdownAsync_RemovesRunnersAndPooledVmsAndRefusesNewStarts()
    {
        var sut = CreateSut(o =>
        {
            o.PoolSize = 1;
            o.MaxRunners = 2;
        });
        sut.StartPool();
        await sut.StartRunnerAsync("runner-1", Jit, Ct);
        await WaitUntil(() => _tart.RunningVms().Count == 2);

        await sut.ShutdownAsync(Ct).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        await sut.ShutdownAsync(Ct).WaitAsync(TimeSpan.FromSeconds(60), Ct);
        await sut.DisposeAsync();

        _tart.ExistingVms().Should().BeEmpty();
        _tart.RunningVms().Should().BeEmpty();
        sut.SlotsInUse.Should().Be(0);
        await FluentActions.Awaiting(() => sut.StartRunnerAsync("runner-2", Jit, Ct)).Should().ThrowAsync<ObjectDisposedException>();
        FluentActions.Invoking(sut.StartPool).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public async Task ShutdownAsync_DuringBoot_StartFailsAndNothingIsLeft()
    {
        var probing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _tart.Probe = (r, _) =>
        {
            probing.TrySetResult();
            return FakeTart.Fail(r, 1, "not yet");
        };
        var sut = CreateSut(o => o.ReadinessTimeout = TimeSpan.FromMinutes(1));
        var start = sut.StartRunnerAsync("runner-1", Jit, Ct);
        await probing.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);

        await sut.ShutdownAsync(Ct).WaitAsync(TimeSpan.FromSeconds(60), Ct);

        await FluentActions.Awaiting(() => start).Should().ThrowAsync<RunnerBackendException>().WithMessage("*shut down*");
        _tart.ExistingVms().Should().BeEmpty();
        _tart.RunningVms().Should().BeEmpty();
        sut.SlotsInUse.Should().Be(0);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private TartBackend CreateSut(Action<TartBackendOptions>? configure = null, TimeProvider? time = null)
    {
        var options = new TartBackendOptions
        {
            BaseImage = "macos-base",
            TartHome = _tart.TartHome,
            VmNamePrefix = "rbt",
            ReadinessTimeout = TimeSpan.FromSeconds(5),
            ProbeInitialDelay = TimeSpan.FromMilliseconds(10),
            ProbeMaxDelay = TimeSpan.FromMilliseconds(50),
            ProbeAttemptTimeout = TimeSpan.FromSeconds(1),
            RefillInitialDelay = TimeSpan.FromMilliseconds(10),
            RefillMaxDelay = TimeSpan.FromMilliseconds(50),
            ExitPollInterval = TimeSpan.FromMilliseconds(10),
            RunnerStartTimeout = TimeSpan.FromSeconds(5),
        };
        configure?.Invoke(options);
        return new TartBackend(options, _logger, _tart.Mock.Object, time);
    }

    private JsonNode ReadConfig(string vm) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(_tart.TartHome, "vms", vm, "config.json")))!;

    private List<long> ProbeDelays() =>
        [.. _logger.Collector.GetSnapshot()
            .Where(r => r.Id.Id == 3026)
            .Select(r => long.Parse(r.GetStructuredStateValue("DelayMs")!, CultureInfo.InvariantCulture))];

    private static async Task Drive(FakeTimeProvider time, Task task, TimeSpan step, int maxSteps = 20000)
    {
        for (var i = 0; i < maxSteps && !task.IsCompleted; i++)
        {
            await Task.Delay(1, Ct);
            time.Advance(step);
        }

        // Let the last continuations run, then fail rather than hang on a task fake time no longer drives.
        await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(30), Ct));
        task.IsCompleted.Should().BeTrue($"the operation should end within {maxSteps} steps of {step}");
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(20, Ct);
        }

        condition().Should().BeTrue();
    }

    private sealed class SyncProgress(Action<string> onReport) : IProgress<string>
    {
        public void Report(string value) => onReport(value);
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TartBackendTestsCollection
{
    public const string Name = "Tart backend, fake time";
}
