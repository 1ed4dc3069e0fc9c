using System.Collections.Concurrent;
using System.Globalization;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using RunnerBackends.Docker.Internal;
using RunnerBackends.Telemetry;

namespace RunnerBackends.Docker;

/// <summary>
/// Runs each GitHub Actions runner in a fresh Docker container named after the runner; the container id is the
/// resource id. Safe for concurrent use.
/// </summary>
/// <remarks>
/// <para>The JIT config reaches the container only as the <c>ACTIONS_RUNNER_INPUT_JITCONFIG</c> environment variable; it
/// never appears in a log line or an exception message.</para>
/// <para>Every container is labelled with <see cref="DockerLabels.ManagedBy"/>, <see cref="DockerLabels.Owner"/> and
/// <see cref="DockerLabels.RunnerName"/>. <see cref="ShutdownAsync"/> (and disposal) removes every container this instance
/// started and still holds; <see cref="RemoveOrphansAsync"/> removes those that an earlier instance with the same owner
/// left behind.</para>
/// <para>Remove, wait and cleanup calls are retried a bounded number of times on transient engine failures (a broken
/// connection, a 5xx); create is never retried, since a retried create could make a second container.</para>
/// </remarks>
public sealed class DockerBackend : IRunnerBackend
{
    private static readonly ContainerRemoveParameters ForceRemove = new() { Force = true, RemoveVolumes = true };

    // How long a cancelled start waits for the engine to answer its create request, so the container can be removed.
    private static readonly TimeSpan CreateGracePeriod = TimeSpan.FromSeconds(30);

    private readonly DockerBackendOptions _options;
    private readonly IDockerApi _docker;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly ResiliencePipeline _retry;
    private readonly Lazy<IList<string>?> _groups;

    // Containers this instance started and has not removed: id -> runner name.
    private readonly ConcurrentDictionary<string, string> _runners = new(StringComparer.Ordinal);

    // Runner names whose create call is in flight, so orphan cleanup never takes them for orphans.
    private readonly ConcurrentDictionary<string, byte> _starting = new(StringComparer.Ordinal);

    private volatile bool _shutdown;

    /// <summary>Initializes a new instance of the <see cref="DockerBackend"/> class.</summary>
    /// <param name="options">How to create runner containers; copied, so later changes have no effect.</param>
    /// <param name="docker">The engine API, usually <see cref="DockerApi.Connect"/>. The backend does not dispose it.</param>
    /// <param name="logger">Where to log; nothing is logged when <see langword="null"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> or <paramref name="docker"/> is null.</exception>
    /// <exception cref="ArgumentException">The options are invalid; the message lists every problem.</exception>
    public DockerBackend(DockerBackendOptions options, IDockerApi docker, ILogger<DockerBackend>? logger = null)
        : this(options, docker, logger, TimeProvider.System, DockerResilience.DefaultBaseDelay)
    {
    }

    internal DockerBackend(DockerBackendOptions options, IDockerApi docker, ILogger? logger, TimeProvider timeProvider, TimeSpan retryBaseDelay)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(docker);
        ArgumentNullException.ThrowIfNull(timeProvider);
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("Invalid Docker backend options: " + string.Join(" ", problems), nameof(options));
        }

        _options = options.Clone();
        _docker = docker;
        _logger = logger ?? NullLogger.Instance;
        _timeProvider = timeProvider;
        _retry = DockerResilience.CreateRetryPipeline(timeProvider, _logger, retryBaseDelay);
        _groups = new Lazy<IList<string>?>(ResolveSocketGroups);
    }

    /// <summary>
    /// Creates and starts a runner container named <paramref name="name"/> from <see cref="DockerBackendOptions.RunnerImage"/>.
    /// </summary>
    /// <param name="name">The runner's name, which is also the container's name (see <see cref="RunnerName"/>).</param>
    /// <param name="jitConfig">The runner's JIT configuration, passed only as <c>ACTIONS_RUNNER_INPUT_JITCONFIG</c>.</param>
    /// <param name="cancellationToken">Cancels the start; a container created so far is removed.</param>
    /// <returns>The container id.</returns>
    /// <exception cref="ArgumentException">The name breaks the runner-name rule or the JIT config is empty; the engine was not called.</exception>
    /// <exception cref="ObjectDisposedException">The backend has been shut down.</exception>
    /// <exception cref="RunnerImageNotFoundException">The runner image is not on the engine.</exception>
    /// <exception cref="RunnerNameConflictException">A container with this name already exists.</exception>
    /// <exception cref="DockerEngineUnreachableException">The engine cannot be reached.</exception>
    /// <exception cref="RunnerBackendException">The engine refused to create or start the container; nothing is left behind.</exception>
    public async Task<string> StartRunnerAsync(string name, string jitConfig, CancellationToken cancellationToken = default)
    {
        RunnerName.ThrowIfInvalid(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(jitConfig);
        ObjectDisposedException.ThrowIf(_shutdown, this);
        cancellationToken.ThrowIfCancellationRequested();

        using var activity = RunnerBackendsTelemetry.StartActivity("StartRunner", RunnerBackendsTelemetry.Docker, name);
        var started = _timeProvider.GetTimestamp();
        Log.RunnerStarting(_logger, name, _options.RunnerImage);
        _starting.TryAdd(name, 0);
        try
        {
            var id = await CreateAndStartAsync(name, jitConfig, cancellationToken).ConfigureAwait(false);
            var elapsed = _timeProvider.GetElapsedTime(started);
            RunnerBackendsTelemetry.RecordStarted(RunnerBackendsTelemetry.Docker, RunnerBackendsTelemetry.Cold, elapsed);
            Log.RunnerStarted(_logger, name, DockerErrors.ShortId(id), (long)elapsed.TotalMilliseconds);
            return id;
        }
        catch (Exception e)
        {
            RunnerBackendsTelemetry.RecordStartFailed(RunnerBackendsTelemetry.Docker, RunnerBackendsTelemetry.Cold, _timeProvider.GetElapsedTime(started), e, activity);
            if (e is not OperationCanceledException)
            {
                Log.RunnerStartFailed(_logger, name, e);
            }

            throw;
        }
        finally
        {
            _starting.TryRemove(name, out _);
        }
    }

    /// <summary>Force-removes a runner container (and its anonymous volumes). Idempotent: a container already gone is success.</summary>
    /// <param name="resourceId">The container id returned by <see cref="StartRunnerAsync"/>.</param>
    /// <param name="cancellationToken">Cancels the removal.</param>
    /// <returns>A task that completes when the container is gone.</returns>
    /// <exception cref="ArgumentException"><paramref name="resourceId"/> is empty.</exception>
    /// <exception cref="DockerEngineUnreachableException">The engine could not be reached, after retries.</exception>
    /// <exception cref="RunnerBackendException">The engine refused to remove the container, after retries on transient failures.</exception>
    public async Task RemoveRunnerAsync(string resourceId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(resourceId);
        await RemoveContainerAsync(resourceId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits until the runner container has stopped and returns its exit code.</summary>
    /// <param name="resourceId">The container id returned by <see cref="StartRunnerAsync"/>.</param>
    /// <param name="cancellationToken">Stops waiting; the container is left as it is.</param>
    /// <returns>
    /// The container's exit code; <see cref="RunnerExit.ExitCode"/> is <see langword="null"/> when the container no longer
    /// exists (it was removed before or while waiting, so its exit code is unknown).
    /// </returns>
    /// <exception cref="ArgumentException"><paramref name="resourceId"/> is empty.</exception>
    /// <exception cref="DockerEngineUnreachableException">The engine could not be reached, after retries.</exception>
    /// <exception cref="RunnerBackendException">The engine failed the wait, after retries on transient failures.</exception>
    public async Task<RunnerExit> WaitForExitAsync(string resourceId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(resourceId);
        var shortId = DockerErrors.ShortId(resourceId);
        try
        {
            // Waiting again after a dropped connection is safe: the engine answers at once for a stopped container.
            var response = await _retry.ExecuteAsync(
                "wait",
                ct => _docker.WaitContainerAsync(resourceId, ct),
                cancellationToken).ConfigureAwait(false);
            Log.RunnerExited(_logger, shortId, response.StatusCode);
            return new RunnerExit(checked((int)response.StatusCode));
        }
        catch (Exception e) when (DockerErrors.IsNotFound(e))
        {
            Log.WaitedContainerMissing(_logger, shortId);
            return new RunnerExit(null);
        }
        catch (DockerApiException e)
        {
            throw new RunnerBackendException($"Waiting for container {shortId} failed: {DockerErrors.EngineMessage(e)}", e);
        }
    }

    /// <summary>
    /// Refuses further starts, then removes every container this instance started and still holds. Idempotent; safe to
    /// call more than once and concurrently with <see cref="DisposeAsync"/>.
    /// </summary>
    /// <param name="cancellationToken">Bounds how long shutdown may take; containers not removed in time are left to <see cref="RemoveOrphansAsync"/>.</param>
    /// <returns>A task that completes when every held container has been removed or its removal has failed (logged).</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled before every container was removed.</exception>
    public async Task ShutdownAsync(CancellationToken cancellationToken = default)
    {
        _shutdown = true;
        var held = _runners.Keys.ToArray();
        if (held.Length > 0)
        {
            Log.ShuttingDown(_logger, held.Length);
        }

        await Task.WhenAll(held.Select(async id =>
        {
            try
            {
                await RemoveContainerAsync(id, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Log.RemoveFailed(_logger, DockerErrors.ShortId(id), e);
            }
            catch (OperationCanceledException)
            {
                // Reported once below.
            }
        })).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }

    /// <summary>Same as <see cref="ShutdownAsync"/> with no time limit. Safe to call more than once.</summary>
    /// <returns>A task that completes when shutdown has finished.</returns>
    public async ValueTask DisposeAsync() => await ShutdownAsync(CancellationToken.None).ConfigureAwait(false);

    /// <summary>
    /// Removes the containers labelled as this library's with this backend's <see cref="DockerBackendOptions.Owner"/>
    /// that this instance did not start: leftovers of a host that crashed or was killed. Call it once at startup.
    /// </summary>
    /// <param name="cancellationToken">Cancels the cleanup.</param>
    /// <returns>The ids of the containers removed.</returns>
    /// <exception cref="DockerEngineUnreachableException">The engine could not be reached.</exception>
    /// <exception cref="RunnerBackendException">The engine failed to list containers, or removing one failed after retries.</exception>
    public async Task<IReadOnlyList<string>> RemoveOrphansAsync(CancellationToken cancellationToken = default)
    {
        var parameters = new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool>
                {
                    [$"{DockerLabels.ManagedBy}={DockerLabels.ManagedByValue}"] = true,
                    [$"{DockerLabels.Owner}={_options.Owner}"] = true,
                },
            },
        };
        IList<ContainerListResponse> containers;
        try
        {
            containers = await _retry.ExecuteAsync("list", ct => _docker.ListContainersAsync(parameters, ct), cancellationToken).ConfigureAwait(false);
        }
        catch (DockerApiException e)
        {
            throw new RunnerBackendException($"Listing runner containers for orphan cleanup failed: {DockerErrors.EngineMessage(e)}", e);
        }

        var removed = new List<string>();
        foreach (var container in containers)
        {
            // The engine filters by label; checking again keeps a lax double (or engine) from widening the sweep.
            if (container.Labels is null ||
                !container.Labels.TryGetValue(DockerLabels.ManagedBy, out var managedBy) || managedBy != DockerLabels.ManagedByValue ||
                !container.Labels.TryGetValue(DockerLabels.Owner, out var owner) || owner != _options.Owner)
            {
                continue;
            }

            container.Labels.TryGetValue(DockerLabels.RunnerName, out var runnerName);
            if (_runners.ContainsKey(container.ID) || (runnerName is not null && _starting.ContainsKey(runnerName)))
            {
                continue;
            }

            await RemoveContainerAsync(container.ID, cancellationToken).ConfigureAwait(false);
            Log.OrphanRemoved(_logger, DockerErrors.ShortId(container.ID), runnerName ?? "?");
            removed.Add(container.ID);
        }

        return removed;
    }

    internal IReadOnlyCollection<string> HeldContainerIds => _runners.Keys.ToArray();

    internal CreateContainerParameters BuildCreateParameters(string name, string jitConfig)
    {
        var env = new List<string>(2) { $"{DockerBackendDefaults.JitConfigVariable}={jitConfig}" };
        var mounts = new List<Mount>(2);
        IList<string> command = [_options.RunnerCommand];
        if (_options.SharedVolumePath is { } sharedPath)
        {
            env.Add($"{DockerBackendDefaults.SharedDirVariable}={sharedPath}");
            mounts.Add(new Mount { Type = "volume", Source = _options.SharedVolumeName, Target = sharedPath });

            // The official runner image runs as uid 1001 with passwordless sudo; a fresh volume is owned by root.
            command =
            [
                "sh", "-c",
                $"sudo chown -R {DockerBackendDefaults.SharedVolumeOwner} {ShellWord(sharedPath)} && {ShellWord(_options.RunnerCommand)}",
            ];
        }

        IList<string>? groups = null;
        if (_options.MountDockerSocket)
        {
            mounts.Add(new Mount { Type = "bind", Source = _options.DockerSocketPath, Target = DockerBackendDefaults.ContainerDockerSocketPath });
            groups = _groups.Value;
        }

        return new CreateContainerParameters
        {
            Name = name,
            Image = _options.RunnerImage,
            User = _options.User,
            Cmd = command,
            Env = env,
            Platform = _options.Platform,
            Labels = new Dictionary<string, string>
            {
                [DockerLabels.ManagedBy] = DockerLabels.ManagedByValue,
                [DockerLabels.Owner] = _options.Owner,
                [DockerLabels.RunnerName] = name,
            },
            HostConfig = new HostConfig
            {
                Mounts = mounts,
                GroupAdd = groups,
                SecurityOpt = ["label:disable"],
                Memory = _options.MemoryLimitMB * 1024 * 1024,
                NanoCPUs = (long)Math.Round(_options.CpuLimit * 1_000_000_000d),
            },
        };
    }

    /// <summary>The value as one shell word: as is when it holds only safe characters (the usual case), else single-quoted.</summary>
    private static string ShellWord(string value) =>
        value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '_' or '-' or '+' or ':' or '@' or '%' or '=' or ',')
            ? value
            : "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private async Task<string> CreateAndStartAsync(string name, string jitConfig, CancellationToken cancellationToken)
    {
        var parameters = BuildCreateParameters(name, jitConfig);
        CreateContainerResponse created;

        // The create request itself is never abandoned: an engine that already received it goes on to make the
        // container even if the client hangs up, and that container's id would be lost. The caller's cancellation ends
        // the wait instead, and the container is removed as soon as the engine answers.
        Task<CreateContainerResponse>? create = null;
        try
        {
            create = _docker.CreateContainerAsync(parameters, CancellationToken.None);
            created = await create.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (create is { IsCompleted: false })
        {
            await RemoveOnceCreatedAsync(create, name).ConfigureAwait(false);
            throw;
        }
        catch (DockerApiException e) when (DockerErrors.IsNotFound(e))
        {
            throw new RunnerImageNotFoundException(_options.RunnerImage, DockerErrors.WithoutSecret(e, jitConfig));
        }
        catch (DockerApiException e) when (DockerErrors.IsConflict(e))
        {
            throw new RunnerNameConflictException(name, DockerErrors.WithoutSecret(e, jitConfig));
        }
        catch (DockerApiException e)
        {
            throw new RunnerBackendException(
                $"Docker could not create the container of runner '{name}' from image '{_options.RunnerImage}': {DockerErrors.EngineMessage(e, jitConfig)}",
                DockerErrors.WithoutSecret(e, jitConfig));
        }
        catch (Exception e) when (e is not (DockerEngineUnreachableException or OperationCanceledException) && DockerErrors.IsTransient(e))
        {
            // The connection broke: the engine may have created the container, but its id never reached us.
            await CleanUpByNameAsync(name).ConfigureAwait(false);
            throw new RunnerBackendException(
                $"Creating the container of runner '{name}' failed: {DockerErrors.Redact(e.Message, jitConfig)}", DockerErrors.WithoutSecret(e, jitConfig));
        }
        catch (Exception e) when (e is not (DockerEngineUnreachableException or OperationCanceledException))
        {
            // Anything else the client throws is wrapped so that no text holding the JIT config escapes.
            throw new RunnerBackendException(
                $"Creating the container of runner '{name}' failed: {DockerErrors.Redact(e.Message, jitConfig)}", DockerErrors.WithoutSecret(e, jitConfig));
        }

        foreach (var warning in created.Warnings ?? [])
        {
            Log.CreateWarning(_logger, name, DockerErrors.Redact(warning, jitConfig));
        }

        var id = created.ID;
        _runners[id] = name;
        try
        {
            await _docker.StartContainerAsync(id, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await CleanUpAfterFailedStartAsync(id, name).ConfigureAwait(false);
            if (e is OperationCanceledException or DockerEngineUnreachableException)
            {
                throw;
            }

            var reason = e is DockerApiException api ? DockerErrors.EngineMessage(api, jitConfig) : DockerErrors.Redact(e.Message, jitConfig);
            throw new RunnerBackendException(
                $"Docker created container {DockerErrors.ShortId(id)} for runner '{name}' but could not start it ({reason}); the container was removed.",
                DockerErrors.WithoutSecret(e, jitConfig));
        }

        if (_shutdown)
        {
            // Shutdown ran while this start was in flight and may have missed the container: take it down here.
            await CleanUpAfterFailedStartAsync(id, name).ConfigureAwait(false);
            throw new ObjectDisposedException(nameof(DockerBackend), "The Docker backend was shut down while the runner was starting; its container was removed.");
        }

        return id;
    }

    private async Task CleanUpAfterFailedStartAsync(string container, string runnerName)
    {
        try
        {
            // Not the caller's token: the cleanup must run even when the caller has given up.
            await RemoveContainerAsync(container, CancellationToken.None, countRemoval: false).ConfigureAwait(false);
            Log.FailedStartCleanedUp(_logger, DockerErrors.ShortId(container), runnerName);
        }
        catch (Exception cleanup)
        {
            Log.FailedStartCleanupFailed(_logger, DockerErrors.ShortId(container), runnerName, cleanup);
        }
    }

    private async Task RemoveOnceCreatedAsync(Task<CreateContainerResponse> create, string runnerName)
    {
        try
        {
            var created = await create.WaitAsync(CreateGracePeriod, _timeProvider).ConfigureAwait(false);
            await CleanUpAfterFailedStartAsync(created.ID, runnerName).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            // The engine is not answering; if it ever creates the container, RemoveOrphansAsync will find it by its labels.
            Log.FailedStartCleanupFailed(_logger, runnerName, runnerName, e);
        }
        catch (Exception)
        {
            // The create failed after all: nothing was made.
        }
    }

    private async Task CleanUpByNameAsync(string runnerName)
    {
        try
        {
            var parameters = new ContainersListParameters
            {
                All = true,
                Filters = new Dictionary<string, IDictionary<string, bool>>
                {
                    ["label"] = new Dictionary<string, bool>
                    {
                        [$"{DockerLabels.ManagedBy}={DockerLabels.ManagedByValue}"] = true,
                        [$"{DockerLabels.Owner}={_options.Owner}"] = true,
                        [$"{DockerLabels.RunnerName}={runnerName}"] = true,
                    },
                },
            };
            var found = await _retry.ExecuteAsync("list", ct => _docker.ListContainersAsync(parameters, ct), CancellationToken.None).ConfigureAwait(false);
            foreach (var container in found ?? [])
            {
                await CleanUpAfterFailedStartAsync(container.ID, runnerName).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            Log.FailedStartCleanupFailed(_logger, runnerName, runnerName, e);
        }
    }

    private async Task RemoveContainerAsync(string containerId, CancellationToken cancellationToken, bool countRemoval = true)
    {
        var shortId = DockerErrors.ShortId(containerId);
        try
        {
            await _retry.ExecuteAsync(
                "remove",
                ct => _docker.RemoveContainerAsync(containerId, ForceRemove, ct),
                cancellationToken).ConfigureAwait(false);
            Log.RunnerRemoved(_logger, shortId);
        }
        catch (Exception e) when (DockerErrors.IsNotFound(e))
        {
            Log.RunnerAlreadyGone(_logger, shortId);
        }
        catch (DockerApiException e) when (DockerErrors.IsConflict(e) &&
            DockerErrors.EngineMessage(e).Contains("already in progress", StringComparison.OrdinalIgnoreCase))
        {
            Log.RemovalInProgress(_logger, shortId);
        }
        catch (DockerApiException e)
        {
            throw new RunnerBackendException($"Docker could not remove container {shortId}: {DockerErrors.EngineMessage(e)}", e);
        }

        if (_runners.TryRemove(containerId, out _) && countRemoval)
        {
            RunnerBackendsTelemetry.RecordRemoved(RunnerBackendsTelemetry.Docker);
        }
    }

    private IList<string>? ResolveSocketGroups()
    {
        var gid = UnixFileGroup.TryGetGroupId(_options.DockerSocketPath);
        if (gid is null)
        {
            Log.SocketGroupUnknown(_logger, _options.DockerSocketPath);
            return ["0"];
        }

        return gid == 0 ? ["0"] : [gid.Value.ToString(CultureInfo.InvariantCulture), "0"];
    }
}
