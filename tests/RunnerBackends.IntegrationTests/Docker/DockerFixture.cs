using Docker.DotNet;
using Docker.DotNet.Models;
using RunnerBackends.Docker;

[assembly: AssemblyFixture(typeof(RunnerBackends.IntegrationTests.Docker.DockerFixture))]

namespace RunnerBackends.IntegrationTests.Docker;

/// <summary>
/// One per test run: checks that a Docker engine is reachable, builds the fake runner image once, and at the end removes
/// every container and volume this run created (found by the run's session id in labels and names), whatever happened.
/// </summary>
public sealed class DockerFixture : IAsyncLifetime
{
    public const string RequireDockerVariable = "RUNNERBACKENDS_REQUIRE_DOCKER";
    public const string SessionLabel = "io.github.runnerbackends.test-session";
    public const string TestImage = "runnerbackends/test-runner:local";

    private readonly ProcessCommandRunner _commands = new();
    private string? _unavailableReason;

    /// <summary>Gets the id that names and labels everything this run creates.</summary>
    public string SessionId { get; } = "rbit" + Guid.NewGuid().ToString("N")[..10];

    /// <summary>Gets the owner label value of every backend this run creates (and the prefix of the other owners it uses).</summary>
    public string Owner => SessionId;

    /// <summary>Gets the library's engine API (once <see cref="RequireDocker"/> has passed).</summary>
    public DockerApi Api => _api ?? throw new InvalidOperationException("Call RequireDocker first.");

    /// <summary>Gets a raw Docker.DotNet client, to inspect what the library did (once <see cref="RequireDocker"/> has passed).</summary>
    public DockerClient Client => _client ?? throw new InvalidOperationException("Call RequireDocker first.");

    private DockerApi? _api;
    private DockerClient? _client;

    // Never throws: an assembly fixture that fails would fail every test of the assembly, Docker or not.
    public async ValueTask InitializeAsync()
    {
        try
        {
            _api = DockerApi.Connect();
            _client = new DockerClientBuilder().Build();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _api.ListContainersAsync(new ContainersListParameters { Limit = 1 }, timeout.Token);
        }
        catch (Exception e)
        {
            _unavailableReason = $"No Docker engine is reachable: {e.Message} Set {RequireDockerVariable}=1 to make this a failure instead of a skip.";
            return;
        }

        try
        {
            var script = Path.Combine(AppContext.BaseDirectory, "DockerImage", "build-test-image.sh");
            await _commands.RunAsync(new CommandRequest("bash", script, TestImage));
        }
        catch (Exception e) when (e is CommandFailedException or CommandNotFoundException)
        {
            var detail = e is CommandFailedException failed ? failed.StandardError.Trim() : e.Message;
            _unavailableReason = $"The fake runner image could not be built ({detail}). Set {RequireDockerVariable}=1 to make this a failure instead of a skip.";
        }
    }

    /// <summary>Skips the calling test when no engine is reachable, or fails it when the run requires Docker.</summary>
    public void RequireDocker()
    {
        if (_unavailableReason is null)
        {
            return;
        }

        if (Environment.GetEnvironmentVariable(RequireDockerVariable) == "1")
        {
            Assert.Fail(_unavailableReason);
        }

        Assert.Skip(_unavailableReason);
    }

    public DockerBackendOptions Options(Action<DockerBackendOptions>? configure = null)
    {
        var options = new DockerBackendOptions { RunnerImage = TestImage, MountDockerSocket = false, Owner = Owner };
        configure?.Invoke(options);
        return options;
    }

    /// <summary>A runner or resource name unique to this run.</summary>
    public string Name(string purpose) => $"{SessionId}-{purpose}-{Guid.NewGuid().ToString("N")[..6]}";

    public Task<CommandResult> DockerCliAsync(params string[] args) =>
        _commands.RunAsync(new CommandRequest("docker", args), TestContext.Current.CancellationToken);

    public async Task<ContainerInspectResponse?> InspectAsync(string id)
    {
        try
        {
            return await Client.Containers.InspectContainerAsync(id, TestContext.Current.CancellationToken);
        }
        catch (DockerContainerNotFoundException)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_unavailableReason is null && _client is not null)
        {
            try
            {
                var containers = await Client.Containers.ListContainersAsync(new ContainersListParameters { All = true });
                foreach (var container in containers.Where(BelongsToRun))
                {
                    await IgnoreMissing(() => Client.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }));
                }

                var volumes = await Client.Volumes.ListAsync(new VolumesListParameters());
                foreach (var volume in (volumes.Volumes ?? []).Where(v => v.Name.Contains(SessionId, StringComparison.Ordinal)
                    || (v.Labels?.TryGetValue(SessionLabel, out var s) == true && s == SessionId)))
                {
                    await IgnoreMissing(() => Client.Volumes.RemoveAsync(volume.Name, force: true));
                }

                var images = await Client.Images.ListImagesAsync(new ImagesListParameters { All = true });
                foreach (var image in images.Where(i => i.Labels?.TryGetValue(SessionLabel, out var s) == true && s == SessionId
                    || (i.RepoTags ?? []).Any(t => t.Contains(SessionId, StringComparison.Ordinal))))
                {
                    await IgnoreMissing(() => Client.Images.DeleteImageAsync(image.ID, new ImageDeleteParameters { Force = true }));
                }
            }
            catch (DockerApiException)
            {
                // Best effort: the engine went away; nothing more can be done here.
            }
        }

        _api?.Dispose();
        _client?.Dispose();
    }

    private bool BelongsToRun(ContainerListResponse container)
    {
        var labels = container.Labels ?? new Dictionary<string, string>();
        return (labels.TryGetValue(DockerLabels.Owner, out var owner) && owner.StartsWith(SessionId, StringComparison.Ordinal))
            || (labels.TryGetValue(SessionLabel, out var session) && session == SessionId)
            || (container.Names ?? []).Any(n => n.Contains(SessionId, StringComparison.Ordinal));
    }

    private static async Task IgnoreMissing(Func<Task> remove)
    {
        try
        {
            await remove();
        }
        catch (DockerApiException)
        {
            // Already gone or in use by something else: not ours to fight over.
        }
    }
}
