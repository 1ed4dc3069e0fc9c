using System.Diagnostics;
using Docker.DotNet.Models;
using RunnerBackends.Docker;

namespace RunnerHost.Tests.Support;

/// <summary>The local Docker engine for end-to-end tests: availability (skip or, in CI, fail) and the test image.</summary>
internal static class DockerEngine
{
    public const string RequireVariable = "RUNNERBACKENDS_REQUIRE_DOCKER";
    public const string TestImage = "runnerbackends/test-runner:local";

    private static readonly SemaphoreSlim ImageLock = new(1, 1);
    private static string? _unavailable;
    private static bool _probed;
    private static bool _imageBuilt;

    /// <summary>Skips the test with the reason when no engine answers, or fails it when CI requires Docker.</summary>
    public static async Task EnsureAvailableAsync()
    {
        if (!_probed)
        {
            _unavailable = await ProbeAsync();
            _probed = true;
        }

        if (_unavailable is { } reason)
        {
            if (Environment.GetEnvironmentVariable(RequireVariable) == "1")
            {
                throw new InvalidOperationException($"Docker is required ({RequireVariable}=1) but unavailable: {reason}");
            }

            Assert.Skip($"No Docker engine: {reason}");
        }

        await EnsureTestImageAsync();
    }

    /// <summary>Containers carrying the backend's owner label value.</summary>
    public static async Task<IList<ContainerListResponse>> ContainersOfOwnerAsync(string owner)
    {
        using var docker = DockerApi.Connect();
        return await docker.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool> { [$"{DockerLabels.Owner}={owner}"] = true },
            },
        });
    }

    /// <summary>Removes every container of the owner (the tests' cleanup, whatever happened).</summary>
    public static async Task RemoveOwnerContainersAsync(string owner)
    {
        using var docker = DockerApi.Connect();
        foreach (var container in await ContainersOfOwnerAsync(owner))
        {
            await docker.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true });
        }
    }

    private static async Task<string?> ProbeAsync()
    {
        try
        {
            using var docker = DockerApi.Connect();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await docker.ListContainersAsync(new ContainersListParameters { Limit = 1 }, timeout.Token);
            return null;
        }
        catch (Exception e)
        {
            return e.Message;
        }
    }

    private static async Task EnsureTestImageAsync()
    {
        await ImageLock.WaitAsync();
        try
        {
            if (_imageBuilt)
            {
                return;
            }

            var script = Path.Combine(AppContext.BaseDirectory, "DockerImage", "build-test-image.sh");
            var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(script);
            start.ArgumentList.Add(TestImage);
            using var process = Process.Start(start)!;
            var error = process.StandardError.ReadToEndAsync();
            await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"Building {TestImage} failed ({process.ExitCode}): {await error}");
            }

            _imageBuilt = true;
        }
        finally
        {
            ImageLock.Release();
        }
    }
}
