using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Docker.DotNet;
using Docker.DotNet.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using RunnerBackends.Docker.Internal;

namespace RunnerBackends.Docker;

/// <summary>
/// Engine-wide cleanup for hosts that run Docker-backed runners: the shared volume, dangling images, build cache,
/// stale files in the shared volume and orphaned buildx builders. Transient engine failures are retried a bounded
/// number of times.
/// </summary>
public static class DockerMaintenance
{
    private const string BuildxPrefix = "buildx_buildkit_";
    private const string BuildxStateSuffix = "_state";

    // POSIX sh and POSIX find only (no -delete, -mmin, -empty): helper images may carry busybox. $1 is the mount path,
    // $2 the cut-off as a touch -t stamp in UTC; files and symlinks not newer than the cut-off go, then every directory
    // that is left empty (rmdir refuses the others; -depth lists children before their parents).
    private const string StaleSweepScript =
        """
        set -eu
        mkdir -p /tmp
        ref=/tmp/.runnerbackends-cutoff.$$
        TZ=UTC0 touch -t "$2" "$ref"
        cd "$1"
        find . \( -type f -o -type l \) ! -newer "$ref" -exec rm -f {} +
        find . -depth -type d ! -name . -exec rmdir {} + 2>/dev/null || true
        rm -f "$ref"
        """;

    /// <summary>
    /// Removes the shared volume <c>runner-shared</c> (when <paramref name="removeVolume"/> is set), prunes dangling images
    /// and all build cache, and logs the space reclaimed. Best effort: failures are logged, never thrown. Call it once
    /// after every Docker backend has shut down; concurrent calls race with container removal.
    /// </summary>
    /// <param name="docker">The engine API.</param>
    /// <param name="removeVolume">Whether to remove the shared volume.</param>
    /// <param name="logger">Where to log; nothing is logged when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the cleanup.</param>
    /// <returns>A task that completes when the cleanup has finished.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    [SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "Binding signature; the overload adds the volume name while the token stays last.")]
    public static Task CleanupSharedDockerAsync(IDockerApi docker, bool removeVolume, ILogger? logger = null, CancellationToken cancellationToken = default) =>
        CleanupSharedDockerAsync(docker, removeVolume, DockerBackendDefaults.SharedVolumeName, logger, cancellationToken);

    /// <summary>
    /// Removes the shared volume <paramref name="volumeName"/> (when <paramref name="removeVolume"/> is set), prunes
    /// dangling images and all build cache, and logs the space reclaimed. Best effort: failures are logged, never thrown.
    /// </summary>
    /// <param name="docker">The engine API.</param>
    /// <param name="removeVolume">Whether to remove the shared volume.</param>
    /// <param name="volumeName">The shared volume's name (<see cref="DockerBackendOptions.SharedVolumeName"/>).</param>
    /// <param name="logger">Where to log; nothing is logged when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the cleanup.</param>
    /// <returns>A task that completes when the cleanup has finished.</returns>
    /// <exception cref="ArgumentException"><paramref name="volumeName"/> is empty while <paramref name="removeVolume"/> is set.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    [SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "See the overload without the volume name.")]
    public static Task CleanupSharedDockerAsync(
        IDockerApi docker, bool removeVolume, string volumeName, ILogger? logger = null, CancellationToken cancellationToken = default) =>
        CleanupSharedDockerAsync(docker, removeVolume, volumeName, logger, TimeProvider.System, DockerResilience.DefaultBaseDelay, cancellationToken);

    /// <summary>
    /// Deletes files and symlinks whose modification time is older than <paramref name="ttl"/> from the shared volume
    /// <c>runner-shared</c>, then the directories left empty, by running a short-lived helper container (as root, the
    /// volume mounted at <paramref name="mountPath"/>). A no-op when <paramref name="ttl"/> is zero or negative. The
    /// helper container is always removed.
    /// </summary>
    /// <param name="docker">The engine API.</param>
    /// <param name="helperImage">An image already on the engine with POSIX <c>sh</c>, <c>find</c>, <c>touch</c>, <c>rm</c> and <c>rmdir</c> (busybox will do; the runner image is the natural choice).</param>
    /// <param name="mountPath">The absolute path the volume is mounted at inside the helper.</param>
    /// <param name="ttl">How old a file must be to be deleted.</param>
    /// <param name="logger">Where to log; nothing is logged when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the sweep (the helper container is still removed).</param>
    /// <returns>A task that completes when the sweep has finished.</returns>
    /// <exception cref="ArgumentException"><paramref name="helperImage"/> is empty or <paramref name="mountPath"/> is not an absolute path.</exception>
    /// <exception cref="RunnerImageNotFoundException">The helper image is not on the engine.</exception>
    /// <exception cref="RunnerBackendException">The sweep failed (non-zero exit) or did not finish within 10 minutes.</exception>
    [SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "Binding signature; the overload adds the volume name while the token stays last.")]
    public static Task CleanupSharedVolumeStaleAsync(
        IDockerApi docker, string helperImage, string mountPath, TimeSpan ttl, ILogger? logger = null, CancellationToken cancellationToken = default) =>
        CleanupSharedVolumeStaleAsync(docker, helperImage, mountPath, ttl, DockerBackendDefaults.SharedVolumeName, logger, cancellationToken);

    /// <summary>
    /// Deletes files and symlinks older than <paramref name="ttl"/> from the volume <paramref name="volumeName"/>, then the
    /// directories left empty; see the overload without a volume name.
    /// </summary>
    /// <param name="docker">The engine API.</param>
    /// <param name="helperImage">An image already on the engine with POSIX <c>sh</c>, <c>find</c>, <c>touch</c>, <c>rm</c> and <c>rmdir</c>.</param>
    /// <param name="mountPath">The absolute path the volume is mounted at inside the helper.</param>
    /// <param name="ttl">How old a file must be to be deleted.</param>
    /// <param name="volumeName">The volume to sweep.</param>
    /// <param name="logger">Where to log; nothing is logged when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the sweep (the helper container is still removed).</param>
    /// <returns>A task that completes when the sweep has finished.</returns>
    /// <exception cref="ArgumentException">An argument is empty or <paramref name="mountPath"/> is not an absolute path.</exception>
    /// <exception cref="RunnerImageNotFoundException">The helper image is not on the engine.</exception>
    /// <exception cref="RunnerBackendException">The sweep failed (non-zero exit) or did not finish within 10 minutes.</exception>
    [SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "See the overload without the volume name.")]
    public static Task CleanupSharedVolumeStaleAsync(
        IDockerApi docker, string helperImage, string mountPath, TimeSpan ttl, string volumeName, ILogger? logger = null, CancellationToken cancellationToken = default) =>
        CleanupSharedVolumeStaleAsync(docker, helperImage, mountPath, ttl, volumeName, logger, TimeProvider.System, DockerResilience.DefaultBaseDelay, cancellationToken);

    /// <summary>
    /// Removes BuildKit builder containers (named <c>buildx_buildkit_*</c>) created more than <paramref name="maxAge"/>
    /// ago, with their <c>&lt;name&gt;_state</c> volumes, then dangling volumes named <c>buildx_buildkit_*</c>. Jobs that
    /// run <c>docker buildx create</c> against the host's engine leave these behind. A no-op when
    /// <paramref name="maxAge"/> is zero or negative. Failures to remove one item are logged and the sweep goes on.
    /// </summary>
    /// <param name="docker">The engine API.</param>
    /// <param name="maxAge">How old a builder must be to be removed.</param>
    /// <param name="logger">Where to log; nothing is logged when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the sweep.</param>
    /// <returns>The names of the builder containers removed.</returns>
    /// <exception cref="DockerEngineUnreachableException">The engine could not be reached.</exception>
    /// <exception cref="RunnerBackendException">The engine failed to list containers or volumes.</exception>
    public static Task<IReadOnlyList<string>> CleanupOrphanedBuildxBuildersAsync(
        IDockerApi docker, TimeSpan maxAge, ILogger? logger = null, CancellationToken cancellationToken = default) =>
        CleanupOrphanedBuildxBuildersAsync(docker, maxAge, logger, TimeProvider.System, DockerResilience.DefaultBaseDelay, cancellationToken);

    internal static async Task CleanupSharedDockerAsync(
        IDockerApi docker, bool removeVolume, string volumeName, ILogger? logger, TimeProvider timeProvider, TimeSpan retryDelay, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(docker);
        if (removeVolume)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(volumeName);
        }

        logger ??= NullLogger.Instance;
        var retry = DockerResilience.CreateRetryPipeline(timeProvider, logger, retryDelay);

        if (removeVolume)
        {
            try
            {
                await retry.ExecuteAsync("volume-remove", ct => docker.RemoveVolumeAsync(volumeName, force: true, ct), cancellationToken).ConfigureAwait(false);
                Log.VolumeRemoved(logger, volumeName);
            }
            catch (Exception e) when (DockerErrors.IsNotFound(e))
            {
                Log.VolumeNotFound(logger, volumeName);
            }
            catch (Exception e) when (!IsCancellation(e, cancellationToken))
            {
                Log.VolumeRemoveFailed(logger, volumeName, e);
            }
        }

        try
        {
            var parameters = new ImagesPruneParameters { Filters = Filter("dangling", "true") };
            var images = await retry.ExecuteAsync("images-prune", ct => docker.PruneImagesAsync(parameters, ct), cancellationToken).ConfigureAwait(false);
            Log.ImagesPruned(logger, images.ImagesDeleted?.Count ?? 0, Bytes.Format(images.SpaceReclaimed));
        }
        catch (Exception e) when (!IsCancellation(e, cancellationToken))
        {
            Log.ImagesPruneFailed(logger, e);
        }

        try
        {
            var cache = await retry.ExecuteAsync("build-prune", ct => docker.PruneBuildCacheAsync(all: true, ct), cancellationToken).ConfigureAwait(false);
            Log.BuildCachePruned(logger, cache.CachesDeleted.Count, Bytes.Format(cache.SpaceReclaimed));
        }
        catch (Exception e) when (!IsCancellation(e, cancellationToken))
        {
            Log.BuildCachePruneFailed(logger, e);
        }
    }

    internal static async Task CleanupSharedVolumeStaleAsync(
        IDockerApi docker,
        string helperImage,
        string mountPath,
        TimeSpan ttl,
        string volumeName,
        ILogger? logger,
        TimeProvider timeProvider,
        TimeSpan retryDelay,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(docker);
        if (ttl <= TimeSpan.Zero)
        {
            return;
        }

        ArgumentException.ThrowIfNullOrWhiteSpace(helperImage);
        ArgumentException.ThrowIfNullOrWhiteSpace(mountPath);
        ArgumentException.ThrowIfNullOrWhiteSpace(volumeName);
        if (mountPath[0] != '/' || mountPath == "/")
        {
            throw new ArgumentException($"Mount path '{mountPath}' must be an absolute path other than '/'.", nameof(mountPath));
        }

        logger ??= NullLogger.Instance;
        var retry = DockerResilience.CreateRetryPipeline(timeProvider, logger, retryDelay);
        var now = timeProvider.GetUtcNow();
        var cutoff = now - ttl;
        var stamp = cutoff.UtcDateTime.ToString("yyyyMMddHHmm.ss", CultureInfo.InvariantCulture);
        var name = string.Create(CultureInfo.InvariantCulture, $"runner-cleanup-{(now - DateTimeOffset.UnixEpoch).Ticks * 100}");
        Log.StaleSweepStarting(logger, ttl, cutoff, volumeName, mountPath);
        var started = timeProvider.GetTimestamp();

        CreateContainerResponse created;
        try
        {
            created = await docker.CreateContainerAsync(
                new CreateContainerParameters
                {
                    Name = name,
                    Image = helperImage,
                    User = "root",
                    // [""] resets any ENTRYPOINT of the helper image, so the command runs as given.
                    Entrypoint = [""],
                    Cmd = ["sh", "-c", StaleSweepScript, "sh", mountPath, stamp],
                    Labels = new Dictionary<string, string>
                    {
                        [DockerLabels.ManagedBy] = DockerLabels.ManagedByValue,
                        [DockerLabels.Purpose] = "shared-volume-cleanup",
                    },
                    HostConfig = new HostConfig
                    {
                        Mounts = [new Mount { Type = "volume", Source = volumeName, Target = mountPath }],
                        SecurityOpt = ["label:disable"],
                    },
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (DockerApiException e) when (DockerErrors.IsNotFound(e))
        {
            throw new RunnerImageNotFoundException(helperImage, e);
        }
        catch (DockerApiException e)
        {
            throw new RunnerBackendException($"Docker could not create the shared-volume sweep container from '{helperImage}': {DockerErrors.EngineMessage(e)}", e);
        }

        try
        {
            await docker.StartContainerAsync(created.ID, cancellationToken).ConfigureAwait(false);
            using var timeout = new CancellationTokenSource(DockerBackendDefaults.StaleSweepTimeout, timeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            ContainerWaitResponse result;
            try
            {
                result = await retry.ExecuteAsync("wait", ct => docker.WaitContainerAsync(created.ID, ct), linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new RunnerBackendException(
                    $"The shared-volume sweep of '{volumeName}' did not finish within {DockerBackendDefaults.StaleSweepTimeout.TotalMinutes:0} minutes; it was stopped.");
            }

            if (result.StatusCode != 0)
            {
                throw new RunnerBackendException(
                    $"The shared-volume sweep of '{volumeName}' (image '{helperImage}') exited with code {result.StatusCode}. " +
                    $"Check that the image has a POSIX sh, find, touch, rm and rmdir (docker logs is not available: the helper is removed).");
            }

            Log.StaleSweepFinished(logger, volumeName, (long)timeProvider.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (DockerApiException e)
        {
            throw new RunnerBackendException($"The shared-volume sweep of '{volumeName}' failed: {DockerErrors.EngineMessage(e)}", e);
        }
        finally
        {
            try
            {
                await retry.ExecuteAsync(
                    "remove",
                    ct => docker.RemoveContainerAsync(created.ID, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, ct),
                    CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (!DockerErrors.IsNotFound(e))
            {
                Log.StaleSweepCleanupFailed(logger, DockerErrors.ShortId(created.ID), e);
            }
            catch (Exception)
            {
                // Already gone.
            }
        }
    }

    internal static async Task<IReadOnlyList<string>> CleanupOrphanedBuildxBuildersAsync(
        IDockerApi docker, TimeSpan maxAge, ILogger? logger, TimeProvider timeProvider, TimeSpan retryDelay, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(docker);
        if (maxAge <= TimeSpan.Zero)
        {
            return [];
        }

        logger ??= NullLogger.Instance;
        var retry = DockerResilience.CreateRetryPipeline(timeProvider, logger, retryDelay);
        var cutoff = timeProvider.GetUtcNow().UtcDateTime - maxAge;

        IList<ContainerListResponse> containers;
        VolumesListResponse volumes;
        try
        {
            containers = await retry.ExecuteAsync(
                "list",
                ct => docker.ListContainersAsync(new ContainersListParameters { All = true, Filters = Filter("name", BuildxPrefix) }, ct),
                cancellationToken).ConfigureAwait(false);
        }
        catch (DockerApiException e)
        {
            throw new RunnerBackendException($"Listing containers for the buildx sweep failed: {DockerErrors.EngineMessage(e)}", e);
        }

        var removed = new List<string>();
        foreach (var container in containers)
        {
            var name = container.Names?.Select(n => n.TrimStart('/')).FirstOrDefault(n => n.StartsWith(BuildxPrefix, StringComparison.Ordinal));
            if (name is null || ToUtc(container.Created) >= cutoff)
            {
                continue;
            }

            try
            {
                await retry.ExecuteAsync(
                    "remove",
                    ct => docker.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, ct),
                    cancellationToken).ConfigureAwait(false);
                removed.Add(name);
                Log.BuildxBuilderRemoved(logger, name, ToUtc(container.Created));
            }
            catch (Exception e) when (DockerErrors.IsNotFound(e))
            {
                removed.Add(name);
            }
            catch (Exception e) when (!IsCancellation(e, cancellationToken))
            {
                Log.BuildxRemoveFailed(logger, name, e);
                continue;
            }

            await RemoveBuildxVolumeAsync(docker, retry, name + BuildxStateSuffix, logger, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            volumes = await retry.ExecuteAsync(
                "volume-list",
                ct => docker.ListVolumesAsync(new VolumesListParameters { Filters = Filter("dangling", "true") }, ct),
                cancellationToken).ConfigureAwait(false);
        }
        catch (DockerApiException e)
        {
            throw new RunnerBackendException($"Listing volumes for the buildx sweep failed: {DockerErrors.EngineMessage(e)}", e);
        }

        foreach (var volume in volumes.Volumes ?? [])
        {
            if (volume.Name?.StartsWith(BuildxPrefix, StringComparison.Ordinal) == true)
            {
                await RemoveBuildxVolumeAsync(docker, retry, volume.Name, logger, cancellationToken).ConfigureAwait(false);
            }
        }

        return removed;
    }

    private static async Task RemoveBuildxVolumeAsync(IDockerApi docker, ResiliencePipeline retry, string volume, ILogger logger, CancellationToken cancellationToken)
    {
        try
        {
            await retry.ExecuteAsync("volume-remove", ct => docker.RemoveVolumeAsync(volume, force: true, ct), cancellationToken).ConfigureAwait(false);
            Log.BuildxVolumeRemoved(logger, volume);
        }
        catch (Exception e) when (DockerErrors.IsNotFound(e))
        {
            // No state volume (or already removed): nothing to do.
        }
        catch (Exception e) when (!IsCancellation(e, cancellationToken))
        {
            Log.BuildxRemoveFailed(logger, volume, e);
        }
    }

    private static DateTime ToUtc(DateTime value) => value.Kind switch
    {
        DateTimeKind.Utc => value,
        DateTimeKind.Local => value.ToUniversalTime(),
        _ => DateTime.SpecifyKind(value, DateTimeKind.Utc),
    };

    private static bool IsCancellation(Exception e, CancellationToken cancellationToken) =>
        e is OperationCanceledException && cancellationToken.IsCancellationRequested;

    private static Dictionary<string, IDictionary<string, bool>> Filter(string key, string value) =>
        new() { [key] = new Dictionary<string, bool> { [value] = true } };
}
