using RunnerBackends.IntegrationTests.TartSimulator;
using RunnerHost.Tests.Support;

namespace RunnerHost.Tests.EndToEnd;

/// <summary>The whole host against the fake GitHub on 127.0.0.1 and the Tart backend driving the tart simulator.</summary>
public sealed class TartKeeperTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Keeper_TartBackendWithWarmPool_KeepsMinIdleReplacesExitedRunnersAndNeverRunsMoreThanTwoVms()
    {
        TartSimulatorHome.SkipIfUnavailable();
        await using var tart = await TartSimulatorHome.CreateAsync(cancellationToken: TestContext.Current.CancellationToken);
        tart.Configure("BOOT_MS", "300");
        tart.Configure("JOB_MS", "2000");
        await using var sut = await CreateSut(tart, new() { ["Keeper:MinIdle"] = "1", ["Keeper:Max"] = "2", ["Tart:PoolSize"] = "1" });

        await sut.StartAsync();
        await KeeperHarness.WaitUntilAsync(() => sut.Keeper.Status().Completed >= 3, Timeout, "three runners ran a job and were replaced");

        tart.MaxRunning().Should().BeLessThanOrEqualTo(2);
        sut.Keeper.Status().MaxHeld.Should().BeLessThanOrEqualTo(2);
        sut.GitHub.MaxRegistered.Should().BeLessThanOrEqualTo(2);
    }

    [Fact]
    public async Task Stop_TartBackendWithRunnersAndPool_LeavesNoVmAndNoRegistration()
    {
        TartSimulatorHome.SkipIfUnavailable();
        await using var tart = await TartSimulatorHome.CreateAsync(cancellationToken: TestContext.Current.CancellationToken);
        tart.Configure("BOOT_MS", "300");
        tart.Configure("JOB_MS", "60000");
        await using var sut = await CreateSut(tart, new() { ["Keeper:MinIdle"] = "1", ["Keeper:Max"] = "1", ["Tart:PoolSize"] = "1" }, pickUpJobs: false);
        await sut.StartAsync();
        await KeeperHarness.WaitUntilAsync(() => sut.Keeper.Status().Idle == 1, Timeout, "one runner is idle");
        await KeeperHarness.WaitUntilAsync(() => tart.RunningVms().Count == 2, Timeout, "the pool refilled beside the runner");

        await sut.StopAsync();

        tart.Vms().Where(vm => vm != tart.BaseImage).Should().BeEmpty();
        tart.RunningVms().Should().BeEmpty();
        sut.OurRegistrations().Should().BeEmpty();
    }

    [Fact]
    public async Task Start_CloneFails_DeletesRegistrationsBacksOffAndLeavesNoVm()
    {
        TartSimulatorHome.SkipIfUnavailable();
        await using var tart = await TartSimulatorHome.CreateAsync(cancellationToken: TestContext.Current.CancellationToken);
        tart.Configure("FAIL_CLONE", "always");
        await using var sut = await CreateSut(tart, new()
        {
            ["Keeper:StartBackoff"] = "00:00:00.500",
            ["Keeper:MaxStartBackoff"] = "00:00:01",
        });
        await sut.StartAsync();

        await KeeperHarness.WaitUntilAsync(() => sut.GitHub.Requests.Count(r => r.Method == "POST") >= 2, Timeout, "two starts were tried");
        await Task.Delay(2500, TestContext.Current.CancellationToken);

        sut.GitHub.Requests.Count(r => r.Method == "POST").Should().BeInRange(2, 7, "a failing backend backs off instead of spinning");
        await sut.StopAsync();
        sut.OurRegistrations().Should().BeEmpty();
        tart.Vms().Where(vm => vm != tart.BaseImage).Should().BeEmpty();
        sut.AllLogText().Should().Contain("failed to start").And.Contain("registration deleted");
    }

    [Fact]
    public async Task Secrets_TartBackend_NeverInLogsTartInvocationsOrAnyProcessArgv()
    {
        TartSimulatorHome.SkipIfUnavailable();
        await using var tart = await TartSimulatorHome.CreateAsync(cancellationToken: TestContext.Current.CancellationToken);
        tart.Configure("BOOT_MS", "300");
        tart.Configure("JOB_MS", "60000");
        await using var sut = await CreateSut(tart, new() { ["Keeper:MinIdle"] = "2", ["Keeper:Max"] = "2" }, pickUpJobs: false);
        await sut.StartAsync();
        await KeeperHarness.WaitUntilAsync(() => sut.Keeper.Status().Idle == 2, Timeout, "two runners are idle");

        var argv = string.Join('\n', ProcessArgv.All());
        await sut.StopAsync();

        var invocations = string.Join('\n', tart.Invocations().Select(i => string.Join(' ', i)));
        invocations.Should().Contain("exec");
        var logs = sut.AllLogText();
        var secrets = sut.GitHub.IssuedJitConfigs.Append(sut.GitHub.Token).ToList();
        secrets.Should().HaveCountGreaterThanOrEqualTo(3);
        foreach (var secret in secrets)
        {
            logs.Should().NotContain(secret);
            argv.Should().NotContain(secret);
            invocations.Should().NotContain(secret);
        }
    }

    private static Task<KeeperHarness> CreateSut(TartSimulatorHome tart, Dictionary<string, string?> settings, bool pickUpJobs = true)
    {
        settings["Keeper:Backend"] = "tart";
        settings["Tart:TartPath"] = tart.TartPath;
        settings["Tart:TartHome"] = tart.TartHome;
        settings["Tart:BaseImage"] = tart.BaseImage;
        settings["Tart:RunnerDirectory"] = tart.RunnerDirectory;
        settings["Tart:MaxRunners"] = "2";
        settings.TryAdd("Tart:PoolSize", "0");
        return KeeperHarness.CreateAsync(
            addBackend: null,
            settings,
            github =>
            {
                github.JobPickupDelay = pickUpJobs ? TimeSpan.FromSeconds(0.3) : null;
                github.JobInterval = TimeSpan.FromSeconds(0.2);
                github.JobDuration = TimeSpan.FromSeconds(1.5);
            });
    }
}
