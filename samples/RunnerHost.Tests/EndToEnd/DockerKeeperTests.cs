using RunnerHost.Tests.Support;

namespace RunnerHost.Tests.EndToEnd;

/// <summary>The whole host against the fake GitHub on 127.0.0.1 and the real Docker engine with the offline test image.</summary>
public sealed class DockerKeeperTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Keeper_DockerBackend_KeepsMinIdleReplacesExitedRunnersAndNeverExceedsMax()
    {
        await DockerEngine.EnsureAvailableAsync();
        var owner = "rh-e2e-" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            await using var sut = await CreateSut(owner, new() { ["Keeper:MinIdle"] = "2", ["Keeper:Max"] = "3" });
            await sut.StartAsync();
            var maxContainers = 0;

            await KeeperHarness.WaitUntilAsync(
                () =>
                {
                    maxContainers = Math.Max(maxContainers, DockerEngine.ContainersOfOwnerAsync(owner).GetAwaiter().GetResult().Count);
                    return sut.Keeper.Status().Completed >= 4;
                },
                Timeout,
                "four runners ran a job and were replaced");
            await KeeperHarness.WaitUntilAsync(() => sut.Keeper.Status().Idle + sut.Keeper.Status().Busy >= 2, Timeout, "two runners run again");

            sut.Keeper.Status().MaxHeld.Should().BeLessThanOrEqualTo(3);
            maxContainers.Should().BeInRange(2, 3);
            sut.GitHub.MaxRegistered.Should().BeLessThanOrEqualTo(3);
            sut.GitHub.CompletedJobs.Should().HaveCountGreaterThanOrEqualTo(4);
        }
        finally
        {
            await DockerEngine.RemoveOwnerContainersAsync(owner);
        }
    }

    [Fact]
    public async Task Stop_DockerBackendWithRunners_LeavesNoContainerAndNoRegistration()
    {
        await DockerEngine.EnsureAvailableAsync();
        var owner = "rh-e2e-" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            // Jobs never end by themselves here: the runners stay idle, then shutdown must clean them up.
            await using var sut = await CreateSut(owner, new() { ["Keeper:MinIdle"] = "2", ["Keeper:Max"] = "2" }, pickUpJobs: false, jobSeconds: 60);
            await sut.StartAsync();
            await KeeperHarness.WaitUntilAsync(() => sut.Keeper.Status().Idle == 2, Timeout, "two runners are idle");
            (await DockerEngine.ContainersOfOwnerAsync(owner)).Should().HaveCount(2);

            await sut.StopAsync();

            (await DockerEngine.ContainersOfOwnerAsync(owner)).Should().BeEmpty();
            sut.OurRegistrations().Should().BeEmpty();
        }
        finally
        {
            await DockerEngine.RemoveOwnerContainersAsync(owner);
        }
    }

    [Fact]
    public async Task Start_ImageMissing_DeletesRegistrationsBacksOffAndLeavesNoContainer()
    {
        await DockerEngine.EnsureAvailableAsync();
        var owner = "rh-e2e-" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            await using var sut = await CreateSut(owner, new()
            {
                ["Docker:RunnerImage"] = "runnerbackends/no-such-image:" + Guid.NewGuid().ToString("N")[..8],
                ["Keeper:StartBackoff"] = "00:00:00.500",
                ["Keeper:MaxStartBackoff"] = "00:00:01",
            });
            await sut.StartAsync();

            await KeeperHarness.WaitUntilAsync(() => sut.GitHub.Requests.Count(r => r.Method == "POST") >= 2, Timeout, "two starts were tried");
            await Task.Delay(2500, TestContext.Current.CancellationToken);

            sut.GitHub.Requests.Count(r => r.Method == "POST").Should().BeInRange(2, 7, "a failing backend backs off (0.5 s, then 1 s) instead of spinning");
            await KeeperHarness.WaitUntilAsync(() => sut.OurRegistrations().Count <= 1, Timeout, "failed runners' registrations are deleted");
            await sut.StopAsync();
            sut.OurRegistrations().Should().BeEmpty();
            (await DockerEngine.ContainersOfOwnerAsync(owner)).Should().BeEmpty();
            sut.AllLogText().Should().Contain("failed to start").And.Contain("registration deleted");
        }
        finally
        {
            await DockerEngine.RemoveOwnerContainersAsync(owner);
        }
    }

    [Fact]
    public async Task Secrets_DockerBackend_NeverInLogsDockerInspectOrAnyProcessArgv()
    {
        await DockerEngine.EnsureAvailableAsync();
        var owner = "rh-e2e-" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            await using var sut = await CreateSut(owner, new() { ["Keeper:MinIdle"] = "2", ["Keeper:Max"] = "2" }, pickUpJobs: false, jobSeconds: 60);
            await sut.StartAsync();
            await KeeperHarness.WaitUntilAsync(() => sut.Keeper.Status().Idle == 2, Timeout, "two runners are idle");

            var argv = string.Join('\n', ProcessArgv.All());
            var inspected = new List<string>();
            foreach (var runner in sut.OurRegistrations())
            {
                inspected.Add(await ProcessArgv.DockerCommandOfAsync(runner.Name));
            }

            await sut.StopAsync();

            inspected.Should().HaveCount(2).And.OnlyContain(i => i.Contains("run.sh", StringComparison.Ordinal));
            var logs = sut.AllLogText();
            var secrets = sut.GitHub.IssuedJitConfigs.Append(sut.GitHub.Token).ToList();
            secrets.Should().HaveCountGreaterThanOrEqualTo(3);
            foreach (var secret in secrets)
            {
                logs.Should().NotContain(secret);
                argv.Should().NotContain(secret);
                inspected.Should().NotContain(i => i.Contains(secret, StringComparison.Ordinal));
            }
        }
        finally
        {
            await DockerEngine.RemoveOwnerContainersAsync(owner);
        }
    }

    private static Task<KeeperHarness> CreateSut(string owner, Dictionary<string, string?> settings, bool pickUpJobs = true, int jobSeconds = 3)
    {
        settings["Keeper:Backend"] = "docker";
        settings.TryAdd("Docker:RunnerImage", DockerEngine.TestImage);
        settings["Docker:MountDockerSocket"] = "false";
        settings["Docker:Owner"] = owner;
        return KeeperHarness.CreateAsync(
            addBackend: null,
            settings,
            github =>
            {
                // The test image's runner reads "job=<seconds>" from its JIT config; the fake's job starts ~0.5 s
                // after registration and ends about when the container exits.
                github.JobPickupDelay = pickUpJobs ? TimeSpan.FromSeconds(0.5) : null;
                github.JobInterval = TimeSpan.FromSeconds(0.2);
                github.JobDuration = TimeSpan.FromSeconds(Math.Max(1, jobSeconds - 1));
                github.JitConfigFactory = _ => $"job={jobSeconds};secret={Guid.NewGuid():N}";
            });
    }
}
