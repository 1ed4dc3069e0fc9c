using System.Net;
using FakeGitHub;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using RunnerBackends;
using RunnerHost.Keeper;
using RunnerHost.Tests.Support;

namespace RunnerHost.Tests.Keeper;

/// <summary>The keeper loop against the fake GitHub over HTTP and an in-memory backend.</summary>
public sealed class RunnerKeeperTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Start_MinIdleTwo_KeepsTwoIdleRunnersRegisteredAndStarted()
    {
        var backend = new FakeRunnerBackend();
        await using var sut = await CreateSut(backend, new() { ["Keeper:MinIdle"] = "2", ["Keeper:Max"] = "4" });

        await sut.StartAsync();
        await KeeperHarness.WaitUntilAsync(() => sut.Keeper.Status().Idle == 2, Timeout, "two runners are idle");
        await Task.Delay(1000, TestContext.Current.CancellationToken);

        backend.Running.Should().HaveCount(2);
        sut.OurRegistrations().Should().HaveCount(2).And.OnlyContain(r => !r.Busy);
        backend.StartedNames.Should().BeEquivalentTo(sut.OurRegistrations().Select(r => r.Name));
    }

    [Fact]
    public async Task Poll_RunnerBecomesBusy_StartsAnotherSoThatMinIdleStaysIdle()
    {
        var backend = new FakeRunnerBackend();
        await using var sut = await CreateSut(backend, new() { ["Keeper:MinIdle"] = "1", ["Keeper:Max"] = "3" });
        await sut.StartAsync();
        await KeeperHarness.WaitUntilAsync(() => sut.Keeper.Status().Idle == 1, Timeout, "one runner is idle");

        sut.GitHub.StartJob(sut.OurRegistrations().Single().Id, forever: true);

        await KeeperHarness.WaitUntilAsync(() => sut.Keeper.Status() is { Busy: 1, Idle: 1 }, Timeout, "one busy and one idle");
        backend.Running.Should().HaveCount(2);
        EndAllJobs(sut);
    }

    [Fact]
    public async Task Poll_AllRunnersBusy_NeverExceedsMax()
    {
        var backend = new FakeRunnerBackend();
        await using var sut = await CreateSut(backend, new() { ["Keeper:MinIdle"] = "2", ["Keeper:Max"] = "3" });
        await sut.StartAsync();

        // Every runner that shows up gets a job that never ends: demand is unbounded.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(4);
        while (DateTime.UtcNow < deadline)
        {
            foreach (var runner in sut.OurRegistrations().Where(r => !r.Busy))
            {
                sut.GitHub.StartJob(runner.Id, forever: true);
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        sut.Keeper.Status().Busy.Should().Be(3);
        sut.Keeper.Status().MaxHeld.Should().Be(3);
        backend.MaxRunning.Should().Be(3);
        sut.GitHub.MaxRegistered.Should().Be(3);
        EndAllJobs(sut);
    }

    [Fact]
    public async Task WaitForExit_RunnerExitsAfterItsJob_RemovesItAndStartsAReplacement()
    {
        var backend = new FakeRunnerBackend();
        await using var sut = await KeeperHarness.CreateAsync(KeeperHarness.With(backend), configureGitHub: o => o.JobDuration = TimeSpan.FromSeconds(1));
        await sut.StartAsync();
        await KeeperHarness.WaitUntilAsync(() => sut.Keeper.Status().Idle == 1, Timeout, "one runner is idle");
        var first = sut.OurRegistrations().Single();
        sut.GitHub.StartJob(first.Id);
        await KeeperHarness.WaitUntilAsync(() => sut.Keeper.Status().Busy == 1, Timeout, "the runner is seen busy");

        backend.Exit(backend.ResourceOf(first.Name)!);

        await KeeperHarness.WaitUntilAsync(
            () => backend.ResourceOf(first.Name) is null && backend.Running.Count == 1 && sut.GitHub.Runners.All(r => r.Id != first.Id),
            Timeout,
            "the runner is removed and replaced");
        backend.StartedNames.Should().HaveCount(2);
        sut.AllLogText().Should().Contain($"{first.Name} finished its job and exited (code 0)");
    }

    [Fact]
    public async Task WaitForExit_RunnerExitsWithoutAJob_DeletesItsRegistration()
    {
        var backend = new FakeRunnerBackend();
        await using var sut = await CreateSut(backend);
        await sut.StartAsync();
        await KeeperHarness.WaitUntilAsync(() => sut.Keeper.Status().Idle == 1, Timeout, "one runner is idle");
        var first = sut.OurRegistrations().Single();

        backend.Exit(backend.ResourceOf(first.Name)!);

        await KeeperHarness.WaitUntilAsync(() => sut.GitHub.Requests.Any(r => r.Method == "DELETE" && r.Path.EndsWith($"/{first.Id}", StringComparison.Ordinal) && r.Status == 204), Timeout, "the registration is deleted");
        sut.GitHub.Runners.Should().NotContain(r => r.Id == first.Id);
        sut.AllLogText().Should().Contain($"{first.Name} exited without running a job");
    }

    [Fact]
    public async Task Start_BackendFails_DeletesEveryRegistrationAndBacksOff()
    {
        var backend = new FakeRunnerBackend { StartFault = _ => new RunnerBackendException("engine is down") };
        await using var sut = await CreateSut(backend, new() { ["Keeper:MinIdle"] = "2", ["Keeper:StartBackoff"] = "00:00:00.500", ["Keeper:MaxStartBackoff"] = "00:00:01" });

        await sut.StartAsync();
        await Task.Delay(TimeSpan.FromSeconds(3), TestContext.Current.CancellationToken);

        // Without the backoff this would be hundreds of attempts; with 0.5 s then 1 s waits, a handful.
        backend.StartAttempts.Should().BeInRange(2, 8);
        await KeeperHarness.WaitUntilAsync(() => sut.OurRegistrations().Count == 0, Timeout, "failed runners' registrations are deleted");
        sut.GitHub.Requests.Count(r => r.Method == "DELETE" && r.Status == 204).Should().BeGreaterThanOrEqualTo(backend.StartAttempts - 1);
        sut.AllLogText().Should().Contain("failed to start: engine is down; registration deleted");
    }

    [Fact]
    public async Task Register_SecondaryRateLimitWithRetryAfter_WaitsThatLongBeforeRetrying()
    {
        var backend = new FakeRunnerBackend();
        await using var sut = await CreateSut(backend);
        sut.GitHub.Inject(FakeFault.TooManyRequests(2, "POST", "generate-jitconfig"));

        await sut.StartAsync();
        await KeeperHarness.WaitUntilAsync(() => backend.Running.Count == 1, Timeout, "a runner starts");

        var posts = sut.GitHub.Requests.Where(r => r.Method == "POST").ToList();
        posts.Select(p => p.Status).Should().Equal(429, 201);
        (posts[1].At - posts[0].At).Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(1.9));
    }

    [Fact]
    public async Task Register_PrimaryRateLimit403_WaitsUntilReset()
    {
        var backend = new FakeRunnerBackend();
        await using var sut = await CreateSut(backend);
        sut.GitHub.Inject(FakeFault.RateLimited(TimeSpan.FromSeconds(2), "POST", "generate-jitconfig"));

        await sut.StartAsync();
        await KeeperHarness.WaitUntilAsync(() => backend.Running.Count == 1, Timeout, "a runner starts");

        var posts = sut.GitHub.Requests.Where(r => r.Method == "POST").ToList();
        posts.Select(p => p.Status).Should().Equal(403, 201);
        // x-ratelimit-reset is whole epoch seconds, rounded up: the retry comes at or after the reset.
        (posts[1].At - posts[0].At).Should().BeGreaterThanOrEqualTo(TimeSpan.FromSeconds(1.9));
    }

    [Fact]
    public async Task Register_Forbidden403WithoutRateLimit_IsNotRetriedAndBacksOff()
    {
        var backend = new FakeRunnerBackend();
        await using var sut = await CreateSut(backend, new() { ["Keeper:StartBackoff"] = "00:00:05", ["Keeper:MaxStartBackoff"] = "00:00:05" });
        sut.GitHub.Inject(new FakeFault(HttpStatusCode.Forbidden, "POST", "generate-jitconfig"));

        await sut.StartAsync();
        await KeeperHarness.WaitUntilAsync(() => sut.AllLogText().Contains("registering", StringComparison.Ordinal), Timeout, "the failure is logged");
        await Task.Delay(1000, TestContext.Current.CancellationToken);

        sut.GitHub.Requests.Count(r => r.Method == "POST").Should().Be(1);
        sut.AllLogText().Should().Contain("GitHub answered 403");
    }

    [Fact]
    public async Task Register_ServerErrors_AreRetried()
    {
        var backend = new FakeRunnerBackend();
        await using var sut = await CreateSut(backend);
        sut.GitHub.Inject(new FakeFault(HttpStatusCode.BadGateway, "POST", "generate-jitconfig"), times: 2);

        await sut.StartAsync();
        await KeeperHarness.WaitUntilAsync(() => backend.Running.Count == 1, Timeout, "a runner starts");

        sut.GitHub.Requests.Where(r => r.Method == "POST").Select(r => r.Status).Should().Equal(502, 502, 201);
    }

    [Fact]
    public async Task Register_NameConflictAfterLostResponse_DeletesTheStaleRegistrationAndUsesAFreshName()
    {
        var backend = new FakeRunnerBackend();
        await using var sut = await CreateSut(backend);
        // The first POST registers the runner but its answer is lost (a 502); the retry then meets 409.
        sut.GitHub.Inject(new FakeFault(HttpStatusCode.BadGateway, "POST", "generate-jitconfig") { RegisterAnyway = true });

        await sut.StartAsync();
        await KeeperHarness.WaitUntilAsync(() => backend.Running.Count == 1, Timeout, "a runner starts");

        var posts = sut.GitHub.Requests.Where(r => r.Method == "POST").ToList();
        posts.Select(p => p.Status).Should().Equal(502, 409, 201);
        posts[2].RunnerName.Should().NotBe(posts[0].RunnerName);
        sut.GitHub.Runners.Should().ContainSingle().Which.Name.Should().Be(posts[2].RunnerName);
        backend.StartedNames.Should().Equal(posts[2].RunnerName);
    }

    [Fact]
    public async Task Start_LeftoverRegistrationsOfThisPrefix_AreDeletedOthersKept()
    {
        var backend = new FakeRunnerBackend();
        await using var sut = await CreateSut(backend, new() { ["Keeper:MinIdle"] = "0" });
        var leftover = sut.GitHub.AddRunner("orgs/acme", sut.NamePrefix + "-deadbeef");
        var foreign = sut.GitHub.AddRunner("orgs/acme", "someone-else-1");

        await sut.StartAsync();
        await KeeperHarness.WaitUntilAsync(() => sut.GitHub.Runners.All(r => r.Id != leftover), Timeout, "the leftover is deleted");

        sut.GitHub.Runners.Should().ContainSingle().Which.Id.Should().Be(foreign);
    }

    [Fact]
    public async Task Start_OrphanCleanupFailsTwice_BacksOffThenKeepsRunners()
    {
        var backend = new FakeRunnerBackend();
        var attempts = 0;
        var hooks = new BackendHooks(
            _ => ++attempts <= 2 ? throw new RunnerBackendException("engine unreachable") : Task.FromResult<IReadOnlyList<string>>(["old-1"]),
            _ => Task.CompletedTask);
        await using var sut = await KeeperHarness.CreateAsync(
            (services, _) => services.AddSingleton<IRunnerBackend>(backend).AddSingleton(hooks),
            new Dictionary<string, string?> { ["Keeper:StartBackoff"] = "00:00:00.200", ["Keeper:MaxStartBackoff"] = "00:00:01" });

        await sut.StartAsync();
        await KeeperHarness.WaitUntilAsync(() => sut.Keeper.Status().Idle == 1, Timeout, "a runner is idle after the engine came up");

        attempts.Should().Be(3);
        sut.AllLogText().Should().Contain("preparing the backend failed: engine unreachable").And.Contain("removed 1 leftover");
    }

    [Fact]
    public async Task Start_BadToken_StopsTheHostWithExitCodeOne()
    {
        var backend = new FakeRunnerBackend();
        await using var sut = await CreateSut(backend, new() { ["GitHub:Token"] = "wrong-token" });
        var stopped = new TaskCompletionSource();
        sut.Host.Services.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>().ApplicationStopping.Register(() => stopped.TrySetResult());

        try
        {
            await sut.StartAsync();
            await stopped.Task.WaitAsync(Timeout, TestContext.Current.CancellationToken);

            Environment.ExitCode.Should().Be(1);
            sut.AllLogText().Should().Contain("GitHub answered 401").And.NotContain("wrong-token");
            backend.StartAttempts.Should().Be(0);
        }
        finally
        {
            Environment.ExitCode = 0;
        }
    }

    [Fact]
    public async Task Stop_WithIdleAndBusyRunners_RemovesEveryRunnerAndRegistrationAndShutsTheBackendDown()
    {
        var backend = new FakeRunnerBackend();
        await using var sut = await CreateSut(backend, new() { ["Keeper:MinIdle"] = "2" });
        await sut.StartAsync();
        await KeeperHarness.WaitUntilAsync(() => sut.Keeper.Status().Idle == 2, Timeout, "two runners are idle");
        var busy = sut.OurRegistrations()[0];
        // A job that ends shortly after its runner is stopped, as GitHub fails the job of a vanished runner.
        sut.GitHub.StartJob(busy.Id);
        await KeeperHarness.WaitUntilAsync(() => sut.Keeper.Status().Busy == 1, Timeout, "one runner is busy");

        await sut.StopAsync();

        backend.Running.Should().BeEmpty();
        backend.Shutdowns.Should().BeGreaterThanOrEqualTo(1);
        sut.OurRegistrations().Should().BeEmpty();
        sut.AllLogText().Should().Contain("stopped: every runner removed");
    }

    [Fact]
    public async Task Logs_WholeLifecycle_NeverHoldTheTokenOrAJitConfig()
    {
        var backend = new FakeRunnerBackend();
        await using var sut = await CreateSut(backend, new() { ["Keeper:MinIdle"] = "2" });
        sut.GitHub.Inject(FakeFault.TooManyRequests(1, "POST"));
        sut.GitHub.Inject(new FakeFault(HttpStatusCode.InternalServerError, "GET"));
        await sut.StartAsync();
        await KeeperHarness.WaitUntilAsync(() => sut.Keeper.Status().Idle == 2, Timeout, "two runners are idle");
        backend.Exit(backend.Running.First());
        await KeeperHarness.WaitUntilAsync(() => backend.StartedNames.Count == 3, Timeout, "a replacement starts");
        await sut.StopAsync();

        var logs = sut.AllLogText();
        logs.Should().NotBeEmpty();
        logs.Should().NotContain(sut.GitHub.Token);
        sut.GitHub.IssuedJitConfigs.Should().HaveCountGreaterThanOrEqualTo(3);
        foreach (var jitConfig in sut.GitHub.IssuedJitConfigs)
        {
            logs.Should().NotContain(jitConfig);
        }

        backend.JitConfigs.Should().BeSubsetOf(sut.GitHub.IssuedJitConfigs);
    }

    [Fact]
    public async Task Start_InvalidSettings_FailsListingEveryProblem()
    {
        var backend = new FakeRunnerBackend();
        await using var sut = await CreateSut(backend, new()
        {
            ["GitHub:Url"] = "not a url",
            ["GitHub:Token"] = string.Empty,
            ["GitHub:TokenVariable"] = "RUNNERHOST_TEST_TOKEN_THAT_IS_NOT_SET",
            ["Keeper:MinIdle"] = "5",
            ["Keeper:Max"] = "2",
        });

        var act = sut.StartAsync;

        var error = (await act.Should().ThrowAsync<OptionsValidationException>()).Which;
        var text = string.Join('\n', error.Failures);
        text.Should().Contain("GitHub:Url 'not a url'").And.Contain("RUNNERHOST_TEST_TOKEN_THAT_IS_NOT_SET");
        backend.StartAttempts.Should().Be(0);
        sut.GitHub.Requests.Should().BeEmpty();
    }

    [Fact]
    public async Task Start_KeeperSettingsInvalid_FailsWithTheirProblems()
    {
        await using var sut = await CreateSut(new FakeRunnerBackend(), new() { ["Keeper:MinIdle"] = "5", ["Keeper:Max"] = "2", ["Keeper:Backend"] = "podman" });

        var act = sut.StartAsync;

        var error = (await act.Should().ThrowAsync<OptionsValidationException>()).Which;
        error.Failures.Should().Contain(f => f.Contains("MinIdle (5) cannot exceed Keeper:Max (2)", StringComparison.Ordinal))
            .And.Contain(f => f.Contains("'docker' or 'tart'", StringComparison.Ordinal));
    }

    private static void EndAllJobs(KeeperHarness sut)
    {
        // A runner whose process is gone loses its job on GitHub: only then can its registration be deleted.
        foreach (var runner in sut.OurRegistrations().Where(r => r.Busy))
        {
            sut.GitHub.EndJob(runner.Id);
        }
    }

    private static Task<KeeperHarness> CreateSut(FakeRunnerBackend backend, Dictionary<string, string?>? settings = null) =>
        KeeperHarness.CreateAsync(KeeperHarness.With(backend), settings);
}
