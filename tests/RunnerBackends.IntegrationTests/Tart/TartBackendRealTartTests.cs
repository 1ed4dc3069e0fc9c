using System.Runtime.InteropServices;
using RunnerBackends.Tart;

namespace RunnerBackends.IntegrationTests.Tart;

/// <summary>
/// The Tart backend against real tart: only on macOS on Apple Silicon with <c>tart</c> on PATH; skipped elsewhere with
/// the reason. The boot test also needs RUNNERBACKENDS_TART_IMAGE: a local VM or OCI image with the Tart Guest Agent
/// and the GitHub Actions runner at its RunnerDirectory (RUNNERBACKENDS_TART_RUNNER_DIR, default
/// /Users/admin/actions-runner).
/// </summary>
public sealed class TartBackendRealTartTests
{
    private const string ImageVariable = "RUNNERBACKENDS_TART_IMAGE";
    private const string RunnerDirectoryVariable = "RUNNERBACKENDS_TART_RUNNER_DIR";
    private static readonly Lazy<string?> Unavailable = new(ProbeAvailability);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task RemoveOrphansAsync_FreshPrefix_ParsesRealListAndRemovesNothing()
    {
        SkipUnlessRealTart();
        await using var sut = CreateSut("unused-image");

        var removed = await sut.RemoveOrphansAsync(Ct);

        removed.Should().BeEmpty();
    }

    [Fact]
    public async Task StartRunnerAsync_RealImageWithFakeJitConfig_BootsThenFailsAndLeavesNothing()
    {
        SkipUnlessRealTart();
        var image = Environment.GetEnvironmentVariable(ImageVariable);
        Assert.SkipWhen(string.IsNullOrWhiteSpace(image), $"set {ImageVariable} to a local VM or OCI image with the Tart Guest Agent and the runner");
        await using var sut = CreateSut(image!);
        await sut.EnsureImageAsync(null, Ct);

        // GitHub rejects a made-up JIT config, so the runner exits at start: the VM must have booted and be gone again.
        var act = () => sut.StartRunnerAsync("real-tart-test", "bm90LWEtcmVhbC1qaXQtY29uZmln", Ct);

        var error = (await act.Should().ThrowAsync<RunnerBackendException>()).Which;
        error.Should().NotBeOfType<RunnerNotReadyException>();
        (await sut.RemoveOrphansAsync(Ct)).Should().BeEmpty();
    }

    private static TartBackend CreateSut(string image) => new(new TartBackendOptions
    {
        BaseImage = image,
        RunnerDirectory = Environment.GetEnvironmentVariable(RunnerDirectoryVariable) is { Length: > 0 } dir ? dir : "/Users/admin/actions-runner",
        VmNamePrefix = "rbtest-" + Guid.NewGuid().ToString("N")[..6],
        MaxRunners = 1,
        ReadinessTimeout = TimeSpan.FromMinutes(3),
    });

    private static void SkipUnlessRealTart() => Assert.SkipWhen(Unavailable.Value is not null, Unavailable.Value ?? "");

    private static string? ProbeAvailability()
    {
        if (!OperatingSystem.IsMacOS() || RuntimeInformation.OSArchitecture != Architecture.Arm64)
        {
            return $"real tart needs macOS on Apple Silicon; this is {RuntimeInformation.OSDescription} ({RuntimeInformation.OSArchitecture})";
        }

        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, "tart")));
        return onPath ? null : "tart is not on PATH (brew install cirruslabs/cli/tart)";
    }
}
