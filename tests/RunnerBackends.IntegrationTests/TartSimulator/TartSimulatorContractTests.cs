using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace RunnerBackends.IntegrationTests.TartSimulator;

/// <summary>
/// The simulator against the tart CLI contract: commands, outputs, exit codes, control files and guest isolation.
/// </summary>
public sealed class TartSimulatorContractTests
{
    private const string NotRunningAgentText = "is the Tart Guest Agent running?";

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static async Task<TartSimulatorHome> CreateSut(string runnerDirectory = "/Users/admin/actions-runner")
    {
        TartSimulatorHome.SkipIfUnavailable();
        var home = await TartSimulatorHome.CreateAsync(runnerDirectory: runnerDirectory, cancellationToken: Token);
        try
        {
            home.Configure("BOOT_MS", "100");
            return home;
        }
        catch
        {
            await home.DisposeAsync();
            throw;
        }
    }

    // --- clone and set ---------------------------------------------------------------------------------------------

    [Fact]
    public async Task Clone_LocalSource_CreatesVmInRealLayoutWithNewMac()
    {
        await using var home = await CreateSut();

        (await Tart(home, "clone", home.BaseImage, "vm1")).ShouldSucceed();

        home.Vms().Should().Equal("runner-base", "vm1");
        var vm = Path.Combine(home.TartHome, "vms", "vm1");
        File.Exists(Path.Combine(vm, "disk.img")).Should().BeTrue();
        File.Exists(Path.Combine(vm, "nvram.bin")).Should().BeTrue();
        var config = Config(home, "vm1");
        config["memorySize"]!.GetValue<long>().Should().Be(8L * 1024 * 1024 * 1024, "memorySize is in bytes");
        config["macAddress"]!.GetValue<string>().Should().NotBe(Config(home, home.BaseImage)["macAddress"]!.GetValue<string>());
    }

    [Fact]
    public async Task Clone_MissingSource_FailsWithDoesNotExistAndExit2()
    {
        await using var home = await CreateSut();

        var result = await Tart(home, "clone", "missing", "vm1");

        result.ExitCode.Should().Be(2);
        result.StandardError.Should().Be("the specified VM \"missing\" does not exist\n");
        home.Vms().Should().NotContain("vm1");
    }

    [Fact]
    public async Task Clone_OntoExistingName_SilentlyReplacesIt()
    {
        await using var home = await CreateSut();
        (await Tart(home, "clone", home.BaseImage, "vm1")).ShouldSucceed();
        (await Tart(home, "set", "vm1", "--cpu", "8")).ShouldSucceed();

        var result = await Tart(home, "clone", home.BaseImage, "vm1");

        result.ShouldSucceed();
        result.StandardError.Should().BeEmpty();
        Config(home, "vm1")["cpuCount"]!.GetValue<int>().Should().Be(4, "the VM was replaced by a fresh copy");
    }

    [Fact]
    public async Task Clone_FailCloneTwice_FailsTwiceThenSucceeds()
    {
        await using var home = await CreateSut();
        home.Configure("FAIL_CLONE", "2");

        var codes = new List<int>();
        for (var i = 0; i < 3; i++)
        {
            codes.Add((await Tart(home, "clone", home.BaseImage, $"vm{i}")).ExitCode);
        }

        codes.Should().Equal(1, 1, 0);
        home.Vms().Should().Equal("runner-base", "vm2");
    }

    [Fact]
    public async Task Set_CpuAndMemory_RewritesConfigWithMemoryInBytes()
    {
        await using var home = await CreateSut();
        await Clone(home, "vm1");

        (await Tart(home, "set", "vm1", "--cpu", "6", "--memory", "6144")).ShouldSucceed();

        var config = Config(home, "vm1");
        config["cpuCount"]!.GetValue<int>().Should().Be(6);
        config["memorySize"]!.GetValue<long>().Should().Be(6144L * 1024 * 1024);
    }

    [Fact]
    public async Task Set_RandomMacAndLargerDisk_RewriteConfigAndDisk()
    {
        await using var home = await CreateSut();
        await Clone(home, "vm1");
        var before = Config(home, "vm1")["macAddress"]!.GetValue<string>();

        (await Tart(home, "set", "vm1", "--random-mac", "--disk-size", "80")).ShouldSucceed();

        Config(home, "vm1")["macAddress"]!.GetValue<string>().Should().NotBe(before).And.MatchRegex("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$");
        var info = JsonNode.Parse((await Tart(home, "get", "vm1", "--format", "json")).StandardOutput)!;
        info["Disk"]!.GetValue<int>().Should().Be(80);
    }

    [Fact]
    public async Task Clone_UncachedRegistryImage_PullsImplicitlyWithProgress()
    {
        await using var home = await CreateSut();

        var result = await Tart(home, "clone", "ghcr.io/acme/runner:3.0", "vm1");

        result.ShouldSucceed();
        result.StandardOutput.Should().Contain("pulling");
        home.Vms().Should().Contain("vm1");
        (await Tart(home, "list", "--source", "oci", "-q")).StandardOutput.Should().Contain("ghcr.io/acme/runner:3.0");
    }

    [Fact]
    public async Task Set_BelowImageMinimum_FailsWithLessThanMinimalResourcesError()
    {
        await using var home = await CreateSut();
        await Clone(home, "vm1");

        var result = await Tart(home, "set", "vm1", "--cpu", "2");

        result.ExitCode.Should().Be(1);
        result.StandardError.Should().Be("LessThanMinimalResourcesError: VM should have 4 CPU cores at minimum (requested 2)\n");
    }

    [Fact]
    public async Task Set_FailSetAlways_FailsAndLeavesConfigUnchanged()
    {
        await using var home = await CreateSut();
        await Clone(home, "vm1");
        home.Configure("FAIL_SET", "always");

        var first = await Tart(home, "set", "vm1", "--cpu", "6");
        var second = await Tart(home, "set", "vm1", "--cpu", "6");

        first.ExitCode.Should().Be(1);
        second.ExitCode.Should().Be(1);
        Config(home, "vm1")["cpuCount"]!.GetValue<int>().Should().Be(4);
    }

    [Fact]
    public async Task Set_MissingVm_FailsWithExit2()
    {
        await using var home = await CreateSut();

        var result = await Tart(home, "set", "missing", "--cpu", "4");

        result.ExitCode.Should().Be(2);
        result.StandardError.Should().Contain("does not exist");
    }

    // --- run and stop -----------------------------------------------------------------------------------------------

    [Fact]
    public async Task Run_StoppedWithTartStop_ExitsZeroAndRemovesControlSocket()
    {
        await using var home = await CreateSut();
        await Clone(home, "vm1");
        var controlSocket = Path.Combine(home.TartHome, "vms", "vm1", "control.sock");

        await using var run = StartRun(home, "vm1");
        await WaitForAgentAsync(home, "vm1");
        File.Exists(controlSocket).Should().BeTrue();
        var stop = await Tart(home, "stop", "vm1");

        stop.ShouldSucceed();
        (await run.ExitCodeAsync()).Should().Be(0);
        home.IsRunning("vm1").Should().BeFalse();
        File.Exists(controlSocket).Should().BeFalse();
    }

    [Fact]
    public async Task Run_MissingVm_FailsWithErrorPrefixAndExit1()
    {
        await using var home = await CreateSut();

        var result = await Tart(home, "run", "missing");

        result.ExitCode.Should().Be(1);
        result.StandardError.Should().Be("Error: the specified VM \"missing\" does not exist\n");
    }

    [Fact]
    public async Task Run_AlreadyRunning_FailsWithExit2()
    {
        await using var home = await CreateSut();
        await Clone(home, "vm1");
        await using var run = StartRun(home, "vm1");
        await WaitUntilAsync(() => home.IsRunning("vm1"));

        var second = await Tart(home, "run", "vm1", "--no-graphics");

        second.ExitCode.Should().Be(2);
        second.StandardError.Should().Be("VM \"vm1\" is already running!\n");
    }

    [Fact]
    public async Task Run_ThirdVm_FailsWithSystemLimitNamingTheOthers()
    {
        await using var home = await CreateSut();
        await Clone(home, "a");
        await Clone(home, "b");
        await Clone(home, "c");
        await using var runA = StartRun(home, "a");
        await using var runB = StartRun(home, "b");
        await WaitUntilAsync(() => home.RunningVms().Count == 2);

        var third = await Tart(home, "run", "c", "--no-graphics");

        third.ExitCode.Should().Be(1);
        third.StandardError.Should().Be("The number of VMs exceeds the system limit (other running VMs: a, b)\n");
        home.MaxRunning().Should().Be(2);
    }

    [Fact]
    public async Task Run_TwentyConcurrentStartsWithLimitTwo_ExactlyTwoRunAndMaxRunningIsTwo()
    {
        await using var home = await CreateSut();
        var names = Enumerable.Range(0, 20).Select(i => $"vm{i:00}").ToList();
        foreach (var name in names)
        {
            await Clone(home, name);
        }

        var runs = names.Select(name => StartRun(home, name)).ToList();
        try
        {
            await WaitUntilAsync(() => runs.Count(run => run.HasExited) == 18, TimeSpan.FromSeconds(30));
            var failures = await Task.WhenAll(runs.Where(run => run.HasExited).Select(run => run.ResultAsync()));

            failures.Should().OnlyContain(result => result.ExitCode == 1 && result.StandardError.Contains("exceeds the system limit"));
            home.RunningVms().Should().HaveCount(2);
            home.MaxRunning().Should().Be(2);
        }
        finally
        {
            foreach (var run in runs)
            {
                await run.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Run_FailRunStart_PrintsErrorAndExits1()
    {
        await using var home = await CreateSut();
        await Clone(home, "vm1");
        home.Configure("FAIL_RUN_START", "1");

        var first = await Tart(home, "run", "vm1");
        await using var second = StartRun(home, "vm1");

        first.ExitCode.Should().Be(1);
        first.StandardError.Should().NotBeEmpty();
        await WaitUntilAsync(() => home.IsRunning("vm1"));
    }

    [Fact]
    public async Task Run_CrashAfterBoot_PowersOffAndExitsZero()
    {
        await using var home = await CreateSut();
        await Clone(home, "vm1");
        home.Configure("CRASH_AFTER_BOOT_MS", "200");

        await using var run = StartRun(home, "vm1");

        (await run.ExitCodeAsync(TimeSpan.FromSeconds(10))).Should().Be(0);
        home.IsRunning("vm1").Should().BeFalse();
    }

    [Fact]
    public async Task Run_KilledWithSigkill_GuestProcessesDieAndControlSocketStays()
    {
        await using var home = await CreateSut();
        await Clone(home, "vm1");
        await using var run = StartRun(home, "vm1");
        await WaitForAgentAsync(home, "vm1");
        (await Tart(home, "exec", "vm1", "sh", "-c", "nohup sleep 300 >/dev/null 2>&1 & echo $! >/tmp/sleep.pid")).ShouldSucceed();
        var marker = $"tartsim-orphan-{Guid.NewGuid():N}";
        (await Tart(home, "exec", "vm1", "sh", "-c", $"nohup bash -c 'exec -a {marker} sleep 300' >/dev/null 2>&1 &")).ShouldSucceed();
        await WaitUntilAsync(() => HostProcessCount(marker) == 1);

        run.Kill();

        await WaitUntilAsync(() => HostProcessCount(marker) == 0);
        await WaitUntilAsync(() => !home.IsRunning("vm1"));
        File.Exists(Path.Combine(home.TartHome, "vms", "vm1", "control.sock")).Should().BeTrue();
    }

    [Fact]
    public async Task Run_Sigterm_KillsVmAndLeavesControlSocket()
    {
        await using var home = await CreateSut();
        await using var run = await StartReadyVmAsync(home, "vm1");

        run.Signal("TERM");

        (await run.ExitCodeAsync()).Should().NotBe(0, "SIGTERM kills tart run instead of stopping the VM");
        home.IsRunning("vm1").Should().BeFalse();
        File.Exists(Path.Combine(home.TartHome, "vms", "vm1", "control.sock")).Should().BeTrue();
        (await Tart(home, "exec", "vm1", "true")).ExitCode.Should().Be(2);
    }

    [Fact]
    public async Task Stop_NotRunningOrMissing_FailsWithExit2()
    {
        await using var home = await CreateSut();
        await Clone(home, "vm1");

        var notRunning = await Tart(home, "stop", "vm1");
        var missing = await Tart(home, "stop", "missing");

        notRunning.ExitCode.Should().Be(2);
        notRunning.StandardError.Should().Be("VM \"vm1\" is not running\n");
        missing.ExitCode.Should().Be(2);
        missing.StandardError.Should().Be("the specified VM \"missing\" does not exist\n");
    }

    // --- exec ---------------------------------------------------------------------------------------------------------

    [Fact]
    public async Task Exec_GuestCommand_ReturnsItsOutputAndExitCode()
    {
        await using var home = await CreateSut();
        await using var run = await StartReadyVmAsync(home, "vm1");

        var result = await Tart(home, "exec", "vm1", "sh", "-c", "echo out; echo err >&2; exit 42");

        result.ExitCode.Should().Be(42);
        result.StandardOutput.Should().Be("out\n");
        result.StandardError.Should().Be("err\n");
    }

    [Fact]
    public async Task Exec_Argv_PassedWithoutAShell()
    {
        await using var home = await CreateSut();
        await using var run = await StartReadyVmAsync(home, "vm1");

        var result = await Tart(home, "exec", "vm1", "printf", "%s|", "a b", "$HOME", "*");

        result.StandardOutput.Should().Be("a b|$HOME|*|");
    }

    [Fact]
    public async Task Exec_WithoutInteractive_GuestStdinIsEmpty()
    {
        await using var home = await CreateSut();
        await using var run = await StartReadyVmAsync(home, "vm1");

        var result = await TartWithInput(home, "secret-input\n", "exec", "vm1", "sh", "-c", "cat; echo eof");

        result.StandardOutput.Should().Be("eof\n");
    }

    [Fact]
    public async Task Exec_Interactive_StreamsStdinAndNeverLogsIt()
    {
        await using var home = await CreateSut();
        await using var run = await StartReadyVmAsync(home, "vm1");

        var result = await TartWithInput(home, "secret-input\n", "exec", "-i", "vm1", "cat");

        result.StandardOutput.Should().Be("secret-input\n");
        File.ReadAllText(Path.Combine(home.TartHome, "sim", "invocations.log")).Should().NotContain("secret-input");
    }

    [Fact]
    public async Task Exec_NotRunning_FailsWithExit2()
    {
        await using var home = await CreateSut();
        await Clone(home, "vm1");

        var result = await Tart(home, "exec", "vm1", "true");

        result.ExitCode.Should().Be(2);
        result.StandardError.Should().Be("VM \"vm1\" is not running\n");
    }

    [Fact]
    public async Task Exec_DuringBoot_FailsFastWithAgentMessage()
    {
        await using var home = await CreateSut();
        await Clone(home, "vm1");
        home.Configure("BOOT_MS", "30000");
        await using var run = StartRun(home, "vm1");
        await WaitUntilAsync(() => home.IsRunning("vm1"));

        var watch = Stopwatch.StartNew();
        var result = await Tart(home, "exec", "vm1", "true");

        result.ExitCode.Should().Be(1);
        result.StandardError.Should().StartWith("Failed to connect to the VM using its control socket").And.Contain(NotRunningAgentText);
        watch.Elapsed.Should().BeLessThan(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Exec_AgentNeverReady_StallsThenFails()
    {
        await using var home = await CreateSut();
        await Clone(home, "vm1");
        home.Configure("AGENT_NEVER_READY", "always");
        home.Configure("STALL_MS", "700");
        await using var run = StartRun(home, "vm1");
        await WaitUntilAsync(() => home.IsRunning("vm1"));
        await Task.Delay(300, Token);

        var watch = Stopwatch.StartNew();
        var result = await Tart(home, "exec", "vm1", "true");

        result.ExitCode.Should().Be(1);
        result.StandardError.Should().Contain(NotRunningAgentText);
        watch.Elapsed.Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(650));
    }

    [Fact]
    public async Task Exec_FailExecOnce_FailsOnceThenWorks()
    {
        await using var home = await CreateSut();
        await using var run = await StartReadyVmAsync(home, "vm1");
        home.Configure("FAIL_EXEC", "1");

        var first = await Tart(home, "exec", "vm1", "true");
        var second = await Tart(home, "exec", "vm1", "true");

        first.ExitCode.Should().Be(1);
        second.ExitCode.Should().Be(0);
    }

    [Fact]
    public async Task Exec_FailExecFiveWithTwentyConcurrent_ExactlyFiveFail()
    {
        await using var home = await CreateSut();
        await using var run = await StartReadyVmAsync(home, "vm1");
        home.Configure("FAIL_EXEC", "5");

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Tart(home, "exec", "vm1", "true")));

        results.Count(result => result.ExitCode == 1).Should().Be(5, "the counter is decremented under a lock");
        results.Count(result => result.ExitCode == 0).Should().Be(15);
    }

    [Fact]
    public async Task Exec_UnknownCommand_FailsWithError()
    {
        await using var home = await CreateSut();
        await using var run = await StartReadyVmAsync(home, "vm1");

        var result = await Tart(home, "exec", "vm1", "no-such-command");

        result.ExitCode.Should().Be(1);
        result.StandardError.Should().StartWith("Error: ");
    }

    [Fact]
    public async Task Exec_CommandRunningWhenVmStops_Returns255()
    {
        await using var home = await CreateSut();
        await using var run = await StartReadyVmAsync(home, "vm1");

        var marker = $"tartsim-exec-{Guid.NewGuid():N}";
        var exec = Tart(home, "exec", "vm1", "bash", "-c", $"exec -a {marker} sleep 30");
        await WaitUntilAsync(() => HostProcessCount(marker) == 1);
        (await Tart(home, "stop", "vm1")).ShouldSucceed();

        (await exec).ExitCode.Should().Be(255);
    }

    [Fact]
    public async Task Exec_TwentyConcurrent_AllSucceed()
    {
        await using var home = await CreateSut();
        await using var run = await StartReadyVmAsync(home, "vm1");

        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => Tart(home, "exec", "vm1", "sh", "-c", $"echo {i}")));

        results.Select(result => result.StandardOutput.Trim()).Should().BeEquivalentTo(Enumerable.Range(0, 20).Select(i => $"{i}"));
        results.Should().OnlyContain(result => result.ExitCode == 0);
        home.Invocations().Count(invocation => invocation is ["exec", "vm1", "sh", ..]).Should().Be(20);
    }

    [Fact]
    public async Task Exec_RoundTrip_CostsOnlyAFewMilliseconds()
    {
        await using var home = await CreateSut();
        await using var run = await StartReadyVmAsync(home, "vm1");

        var samples = new List<double>();
        for (var i = 0; i < 30; i++)
        {
            var watch = Stopwatch.StartNew();
            (await Tart(home, "exec", "vm1", "true")).ShouldSucceed();
            samples.Add(watch.Elapsed.TotalMilliseconds);
        }

        var median = samples.Order().ElementAt(samples.Count / 2);
        TestContext.Current.TestOutputHelper?.WriteLine($"tart exec vm1 true: median {median:F1} ms over {samples.Count}");
        median.Should().BeLessThan(100, "the Tart backend's benchmark counts on cheap exec round trips");
    }

    // --- guest isolation and the fake runner -----------------------------------------------------------------------

    [Fact]
    public async Task Guest_ProcessesAndTmp_InvisibleToAnotherVm()
    {
        await using var home = await CreateSut();
        await using var run1 = await StartReadyVmAsync(home, "vm1");
        await using var run2 = await StartReadyVmAsync(home, "vm2");

        (await Tart(home, "exec", "vm1", "sh", "-c", "echo one >/tmp/only-vm1; nohup sleep 300 >/dev/null 2>&1 &")).ShouldSucceed();

        (await Tart(home, "exec", "vm1", "pgrep", "-x", "sleep")).ExitCode.Should().Be(0);
        (await Tart(home, "exec", "vm2", "pgrep", "-x", "sleep")).ExitCode.Should().Be(1);
        (await Tart(home, "exec", "vm2", "test", "-e", "/tmp/only-vm1")).ExitCode.Should().Be(1);
        (await Tart(home, "exec", "vm1", "cat", "/tmp/only-vm1")).StandardOutput.Should().Be("one\n");
        home.GuestFile("vm1", "/tmp/only-vm1").Should().Be("one\n");
        home.GuestFile("vm2", "/tmp/only-vm1").Should().BeNull();
    }

    [Fact]
    public async Task Guest_VmStopped_ItsProcessesDie()
    {
        await using var home = await CreateSut();
        await using var run = await StartReadyVmAsync(home, "vm1");
        var marker = $"tartsim-stop-{Guid.NewGuid():N}";
        (await Tart(home, "exec", "vm1", "sh", "-c", $"nohup bash -c 'exec -a {marker} sleep 300' >/dev/null 2>&1 &")).ShouldSucceed();
        await WaitUntilAsync(() => HostProcessCount(marker) == 1);

        (await Tart(home, "stop", "vm1")).ShouldSucceed();

        HostProcessCount(marker).Should().Be(0);
    }

    [Fact]
    public async Task Runner_WithJitConfig_RunsAsRunnerListenerForJobThenExits()
    {
        await using var home = await CreateSut();
        home.Configure("JOB_MS", "3000");
        home.Configure("RUNNER_EXIT", "3");
        await using var run = await StartReadyVmAsync(home, "vm1");
        await using var other = await StartReadyVmAsync(home, "vm2");
        const string jit = "eyJqaXQiOiJzZWNyZXQifQ==";

        var start = await TartWithInput(home, jit, "exec", "-i", "vm1", "sh", "-c",
            "read -r jit; export ACTIONS_RUNNER_INPUT_JITCONFIG=\"$jit\"; cd /Users/admin/actions-runner && nohup ./run.sh >/tmp/runner.log 2>&1 & echo $! >/tmp/runner.pid");

        start.ShouldSucceed();
        await WaitUntilAsync(async () => (await Tart(home, "exec", "vm1", "pgrep", "-x", "Runner.Listener")).ExitCode == 0);
        (await Tart(home, "exec", "vm1", "pgrep", "-f", "Runner.Listener")).ExitCode.Should().Be(0);
        (await Tart(home, "exec", "vm2", "pgrep", "-f", "Runner.Listener")).ExitCode.Should().Be(1);
        home.GuestFile("vm1", "/tmp/jitconfig.sha256")!.Trim().Should().Be(Sha256(jit));
        await WaitUntilAsync(async () => (await Tart(home, "exec", "vm1", "pgrep", "-x", "Runner.Listener")).ExitCode == 1);
        home.GuestFile("vm1", "/tmp/runner.log").Should().Contain("Listening for Jobs").And.NotContain(jit);
        (await Tart(home, "exec", "vm1", "sh", "-c", "cd /Users/admin/actions-runner; ACTIONS_RUNNER_INPUT_JITCONFIG=x ./run.sh >/dev/null"))
            .ExitCode.Should().Be(3, "the runner exits with RUNNER_EXIT");
    }

    [Fact]
    public async Task Runner_WithoutJitConfig_FailsAtStart()
    {
        await using var home = await CreateSut();
        await using var run = await StartReadyVmAsync(home, "vm1");

        var result = await Tart(home, "exec", "vm1", "/Users/admin/actions-runner/run.sh");

        result.ExitCode.Should().Be(1);
        result.StandardOutput.Should().Contain("JIT");
    }

    [Fact]
    public async Task Runner_RunnerDiesOnce_FailsOnceWithErrorThenRuns()
    {
        await using var home = await CreateSut();
        home.Configure("JOB_MS", "0");
        home.Configure("RUNNER_DIES", "1");
        await using var run = await StartReadyVmAsync(home, "vm1");

        var first = await Tart(home, "exec", "vm1", "/Users/admin/actions-runner/run.sh", "--jitconfig", "abc");
        var second = await Tart(home, "exec", "vm1", "/Users/admin/actions-runner/run.sh", "--jitconfig", "abc");

        first.ExitCode.Should().Be(1);
        first.StandardOutput.Should().Contain("error");
        second.ExitCode.Should().Be(0);
    }

    [Fact]
    public async Task Runner_CustomRunnerDirectory_IsWhereTheImagePutsRunSh()
    {
        await using var home = await CreateSut(runnerDirectory: "/opt/actions-runner");
        await using var run = await StartReadyVmAsync(home, "vm1");

        var result = await Tart(home, "exec", "vm1", "test", "-x", "/opt/actions-runner/run.sh");

        result.ExitCode.Should().Be(0);
    }

    // --- delete, list, get, ip, pull, prune ------------------------------------------------------------------------

    [Fact]
    public async Task Delete_RunningMissingAndFaulty_FailAsRealTartDoes()
    {
        await using var home = await CreateSut();
        await Clone(home, "a");
        await Clone(home, "b");
        await using var run = StartRun(home, "b");
        await WaitUntilAsync(() => home.IsRunning("b"));

        var running = await Tart(home, "delete", "a", "b");
        var missing = await Tart(home, "delete", "missing");
        home.Configure("FAIL_DELETE", "1");
        await Clone(home, "c");
        var faulty = await Tart(home, "delete", "c");
        var retried = await Tart(home, "delete", "c");

        running.ExitCode.Should().Be(1);
        running.StandardError.Should().Be("VM \"b\" is running\n");
        missing.ExitCode.Should().Be(2);
        faulty.ExitCode.Should().Be(1);
        retried.ShouldSucceed();
        home.Vms().Should().Equal("b", "runner-base");
    }

    [Fact]
    public async Task Delete_SeveralNames_StopsAtFirstError()
    {
        await using var home = await CreateSut();
        await Clone(home, "a");
        await Clone(home, "c");

        var result = await Tart(home, "delete", "a", "missing", "c");

        result.ExitCode.Should().Be(2);
        home.Vms().Should().Equal("c", "runner-base");
    }

    [Fact]
    public async Task Exec_ExecMs_AddedToEveryRoundTrip()
    {
        await using var home = await CreateSut();
        await using var run = await StartReadyVmAsync(home, "vm1");
        home.Configure("EXEC_MS", "400");

        var watch = Stopwatch.StartNew();
        (await Tart(home, "exec", "vm1", "true")).ShouldSucceed();

        watch.Elapsed.Should().BeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(400));
    }

    [Fact]
    public async Task List_Json_LocalsSortedThenEachImageTwiceWithContractFields()
    {
        await using var home = await CreateSut();
        await Clone(home, "zeta");
        await Clone(home, "alpha");
        (await Tart(home, "pull", "ghcr.io/acme/runner:1.0")).ShouldSucceed();
        await using var run = StartRun(home, "zeta");
        await WaitUntilAsync(() => home.IsRunning("zeta"));

        var result = await Tart(home, "list", "--format", "json");

        result.ShouldSucceed();
        var entries = JsonNode.Parse(result.StandardOutput)!.AsArray();
        entries.Select(entry => entry!["Name"]!.GetValue<string>()).Should().HaveCount(5).And.StartWith(["alpha", "runner-base", "zeta"]);
        entries[3]!["Name"]!.GetValue<string>().Should().Be("ghcr.io/acme/runner:1.0");
        entries[4]!["Name"]!.GetValue<string>().Should().MatchRegex("^ghcr.io/acme/runner@sha256:[0-9a-f]{64}$");
        entries.Select(entry => entry!["Source"]!.GetValue<string>()).Should().Equal("local", "local", "local", "OCI", "OCI");
        foreach (var entry in entries)
        {
            entry!.AsObject().Select(property => property.Key).Should().BeEquivalentTo(["Source", "Name", "Disk", "Size", "Accessed", "Running", "State"]);
            entry["Disk"]!.GetValueKind().Should().Be(JsonValueKind.Number);
            _ = DateTimeOffset.Parse(entry["Accessed"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture);
        }

        var zeta = entries.Single(entry => entry!["Name"]!.GetValue<string>() == "zeta")!;
        zeta["Running"]!.GetValue<bool>().Should().BeTrue();
        zeta["State"]!.GetValue<string>().Should().Be("running");
        entries[0]!["State"]!.GetValue<string>().Should().Be("stopped");
    }

    [Fact]
    public async Task List_QuietAndSources_FilterAndBadSourceIsUsageError()
    {
        await using var home = await CreateSut();
        (await Tart(home, "pull", "ghcr.io/acme/runner:1.0")).ShouldSucceed();

        var local = await Tart(home, "list", "--source", "local", "-q");
        var oci = await Tart(home, "list", "--source", "oci", "--quiet");
        var bad = await Tart(home, "list", "--source", "cloud");

        local.StandardOutput.Should().Be("runner-base\n");
        oci.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().HaveCount(2);
        bad.ExitCode.Should().Be(64);
        bad.StandardError.Should().StartWith("Error: ");
    }

    [Fact]
    public async Task Get_Json_HasContractFieldsWithMemoryInMegabytes()
    {
        await using var home = await CreateSut();

        var result = await Tart(home, "get", home.BaseImage, "--format", "json");
        var missing = await Tart(home, "get", "missing");

        var info = JsonNode.Parse(result.StandardOutput)!.AsObject();
        info.Select(property => property.Key).Should().BeEquivalentTo(["OS", "CPU", "Memory", "Disk", "DiskFormat", "Size", "Display", "Running", "State"]);
        info["Memory"]!.GetValue<int>().Should().Be(8192);
        info["Size"]!.GetValueKind().Should().Be(JsonValueKind.String);
        info["Running"]!.GetValue<bool>().Should().BeFalse();
        missing.ExitCode.Should().Be(2);
    }

    [Fact]
    public async Task Ip_RunningVm_StableAddressElseNoIpError()
    {
        await using var home = await CreateSut();
        await Clone(home, "vm1");

        var stopped = await Tart(home, "ip", "vm1");
        await using var run = StartRun(home, "vm1");
        await WaitUntilAsync(() => home.IsRunning("vm1"));
        var first = await Tart(home, "ip", "vm1");
        var second = await Tart(home, "ip", "vm1", "--wait", "5");

        stopped.ExitCode.Should().Be(1);
        stopped.StandardError.Should().Be("no IP address found, is your VM running?\n");
        first.StandardOutput.Should().MatchRegex(@"^\d+\.\d+\.\d+\.\d+\n$");
        second.StandardOutput.Should().Be(first.StandardOutput);
    }

    [Fact]
    public async Task Pull_RegistryImage_ProgressLinesAndClonableKeepingMac()
    {
        await using var home = await CreateSut();
        const string image = "ghcr.io/acme/runner:latest";

        var pull = await Tart(home, "pull", image);
        (await Tart(home, "clone", image, "vm1")).ShouldSucceed();
        (await Tart(home, "clone", image, "vm2")).ShouldSucceed();

        pull.ShouldSucceed();
        pull.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length.Should().BeGreaterThan(2);
        var imageMac = (await Tart(home, "list", "--format", "json")).StandardOutput;
        imageMac.Should().Contain(image);
        Config(home, "vm1")["macAddress"]!.GetValue<string>().Should().NotBe(Config(home, "vm2")["macAddress"]!.GetValue<string>());
    }

    [Fact]
    public async Task Pull_LocalNameOrFailPull_AnswersAsRealTart()
    {
        await using var home = await CreateSut();

        var local = await Tart(home, "pull", home.BaseImage);
        home.Configure("FAIL_PULL", "always");
        var failing = await Tart(home, "pull", "ghcr.io/acme/runner:2.0");

        local.ShouldSucceed();
        local.StandardOutput.Should().Be($"\"{home.BaseImage}\" is a local image, nothing to pull here!\n");
        failing.ExitCode.Should().Be(1);
    }

    [Fact]
    public async Task Prune_NoCriterion_UsageErrorElsePrunesCaches()
    {
        await using var home = await CreateSut();
        (await Tart(home, "pull", "ghcr.io/acme/runner:1.0")).ShouldSucceed();

        var none = await Tart(home, "prune");
        var budget = await Tart(home, "prune", "--entries", "caches", "--space-budget", "0");

        none.ExitCode.Should().Be(64);
        none.StandardError.Should().StartWith("Error: at least one pruning criteria must be specified");
        budget.ShouldSucceed();
        (await Tart(home, "list", "--source", "oci", "-q")).StandardOutput.Should().BeEmpty();
    }

    // --- usage errors and records ------------------------------------------------------------------------------------

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("clone", "only-one")]
    [InlineData("stop", "vm1", "--bogus")]
    [InlineData("exec", "vm1")]
    [InlineData("list", "--format", "yaml")]
    public async Task Usage_BadArguments_ErrorAndUsageOnStderrExit64(params string[] arguments)
    {
        await using var home = await CreateSut();

        var result = await Tart(home, arguments);

        result.ExitCode.Should().Be(64);
        result.StandardError.Should().StartWith("Error: ").And.Contain("Usage: tart");
    }

    [Fact]
    public async Task Invocations_EveryCallLoggedWithItsArgv()
    {
        await using var home = await CreateSut();

        await Tart(home, "list", "--format", "json");
        await Tart(home, "clone", home.BaseImage, "with space");
        await TartWithInput(home, "stdin-is-not-logged\n", "get", "with space");

        home.Invocations().Should().BeEquivalentTo(
            new[] { new[] { "list", "--format", "json" }, new[] { "clone", home.BaseImage, "with space" }, new[] { "get", "with space" } },
            options => options.WithStrictOrdering());
        home.TimedInvocations().Select(invocation => invocation.StartedAt).Should().BeInAscendingOrder();
    }

    [Fact]
    public async Task Dispose_RunningVms_StoppedAndHomeDeleted()
    {
        var home = await CreateSut();
        await using var run = await StartReadyVmAsync(home, "vm1");
        var marker = $"tartsim-dispose-{Guid.NewGuid():N}";
        try
        {
            (await Tart(home, "exec", "vm1", "sh", "-c", $"nohup bash -c 'exec -a {marker} sleep 300' >/dev/null 2>&1 &")).ShouldSucceed();
            await WaitUntilAsync(() => HostProcessCount(marker) == 1);
        }
        finally
        {
            await home.DisposeAsync();
        }

        (await run.ExitCodeAsync()).Should().Be(0);
        HostProcessCount(marker).Should().Be(0);
        Directory.Exists(home.TartHome).Should().BeFalse();
    }

    // --- helpers ------------------------------------------------------------------------------------------------------

    private static Task<TartResult> Tart(TartSimulatorHome home, params string[] arguments) => TartWithInput(home, null, arguments);

    private static async Task<TartResult> TartWithInput(TartSimulatorHome home, string? standardInput, params string[] arguments)
    {
        try
        {
            var result = await new ProcessCommandRunner().RunAsync(
                new CommandRequest(home.TartPath, arguments) { StandardInput = standardInput, Environment = home.Environment },
                Token);
            return new TartResult(result.ExitCode, result.StandardOutput, result.StandardError);
        }
        catch (CommandFailedException ex)
        {
            return new TartResult(ex.ExitCode, ex.StandardOutput, ex.StandardError);
        }
    }

    private static async Task Clone(TartSimulatorHome home, string name) =>
        (await Tart(home, "clone", home.BaseImage, name)).ShouldSucceed();

    private static RunningTart StartRun(TartSimulatorHome home, string name) => new(home, name);

    private static async Task<RunningTart> StartReadyVmAsync(TartSimulatorHome home, string name)
    {
        await Clone(home, name);
        var run = StartRun(home, name);
        await WaitForAgentAsync(home, name);
        return run;
    }

    private static Task WaitForAgentAsync(TartSimulatorHome home, string name) =>
        WaitUntilAsync(async () => (await Tart(home, "exec", name, "true")).ExitCode == 0);

    private static JsonNode Config(TartSimulatorHome home, string vm) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(home.TartHome, "vms", vm, "config.json")))!;

    private static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    // Live host processes whose argv[0] is the marker (the guest's PID namespace is nested in the host's).
    private static int HostProcessCount(string marker)
    {
        var count = 0;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out _))
            {
                continue;
            }

            try
            {
                var commandLine = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                if (commandLine.StartsWith(marker + " ", StringComparison.Ordinal) && !stat.Contains(") Z ", StringComparison.Ordinal))
                {
                    count++;
                }
            }
            catch (IOException)
            {
                // Gone while we looked.
            }
            catch (UnauthorizedAccessException)
            {
                // Not ours to read.
            }
        }

        return count;
    }

    private static Task WaitUntilAsync(Func<bool> condition, TimeSpan? timeout = null) =>
        WaitUntilAsync(() => Task.FromResult(condition()), timeout);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan? timeout = null)
    {
        var watch = Stopwatch.StartNew();
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            if (watch.Elapsed > limit)
            {
                throw new TimeoutException($"condition not met within {limit}");
            }

            await Task.Delay(25, Token);
        }
    }

    private sealed record TartResult(int ExitCode, string StandardOutput, string StandardError)
    {
        public void ShouldSucceed() => ExitCode.Should().Be(0, "tart should succeed; stderr: {0}", StandardError);
    }

    // A long-lived `tart run`, as a backend keeps it; disposal stops the VM.
    private sealed class RunningTart : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly Task<string> _stdout;
        private readonly Task<string> _stderr;

        public RunningTart(TartSimulatorHome home, string name)
        {
            var startInfo = new ProcessStartInfo(home.TartPath, ["run", name, "--no-graphics"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
            };
            startInfo.Environment["TART_HOME"] = home.TartHome;
            _process = Process.Start(startInfo)!;
            _process.StandardInput.Close();
            _stdout = _process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            _stderr = _process.StandardError.ReadToEndAsync(CancellationToken.None);
        }

        public bool HasExited => _process.HasExited;

        public void Kill() => _process.Kill(entireProcessTree: false);

        public void Signal(string signal)
        {
            using var kill = Process.Start("kill", [$"-{signal}", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
            kill.WaitForExit();
        }

        public async Task<int> ExitCodeAsync(TimeSpan? timeout = null) => (await ResultAsync(timeout)).ExitCode;

        public async Task<TartResult> ResultAsync(TimeSpan? timeout = null)
        {
            using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
            await _process.WaitForExitAsync(cts.Token);
            return new TartResult(_process.ExitCode, await _stdout, await _stderr);
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                Signal("INT");
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await _process.WaitForExitAsync(cts.Token);
                }
                catch (OperationCanceledException)
                {
                    _process.Kill(entireProcessTree: true);
                }
            }

            _process.Dispose();
        }
    }
}
