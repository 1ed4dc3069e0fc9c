using Microsoft.Extensions.Logging;

namespace RunnerBackends.Docker.Internal;

/// <summary>
/// Log events of the Docker backend and maintenance (event ids 2000-2999). Container ids are shortened to 12 characters;
/// JIT configs are never passed to any of these.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 2000, Level = LogLevel.Debug, Message = "Creating container for runner {RunnerName} from image {Image}")]
    public static partial void RunnerStarting(ILogger logger, string runnerName, string image);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Started runner {RunnerName} in container {ContainerId} in {ElapsedMs} ms")]
    public static partial void RunnerStarted(ILogger logger, string runnerName, string containerId, long elapsedMs);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Warning, Message = "Could not start runner {RunnerName}")]
    public static partial void RunnerStartFailed(ILogger logger, string runnerName, Exception exception);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Debug, Message = "Removed container {ContainerId} of runner {RunnerName} after its start failed")]
    public static partial void FailedStartCleanedUp(ILogger logger, string containerId, string runnerName);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "Could not remove container {Container} of runner {RunnerName} after its start failed; RemoveOrphansAsync will remove it")]
    public static partial void FailedStartCleanupFailed(ILogger logger, string container, string runnerName, Exception exception);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Information, Message = "Removed container {ContainerId}")]
    public static partial void RunnerRemoved(ILogger logger, string containerId);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Debug, Message = "Container {ContainerId} was already gone")]
    public static partial void RunnerAlreadyGone(ILogger logger, string containerId);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Warning, Message = "Could not remove container {ContainerId}")]
    public static partial void RemoveFailed(ILogger logger, string containerId, Exception exception);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Warning, Message = "Docker call {Operation} failed transiently; retry {Attempt} in {DelayMs} ms")]
    public static partial void RetryingDockerCall(ILogger logger, string operation, int attempt, long delayMs, Exception? exception);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Information, Message = "Shutting down the Docker backend; removing {Count} runner container(s)")]
    public static partial void ShuttingDown(ILogger logger, int count);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "Removed orphaned runner container {ContainerId} ({RunnerName})")]
    public static partial void OrphanRemoved(ILogger logger, string containerId, string runnerName);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "Could not read the group of the Docker socket {SocketPath}; adding only gid 0 to runner containers")]
    public static partial void SocketGroupUnknown(ILogger logger, string socketPath);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Debug, Message = "Container {ContainerId} exited with code {ExitCode}")]
    public static partial void RunnerExited(ILogger logger, string containerId, long exitCode);

    [LoggerMessage(EventId = 2013, Level = LogLevel.Debug, Message = "Container {ContainerId} is gone; its exit code is unknown")]
    public static partial void WaitedContainerMissing(ILogger logger, string containerId);

    [LoggerMessage(EventId = 2014, Level = LogLevel.Warning, Message = "Docker warned while creating the container of runner {RunnerName}: {Warning}")]
    public static partial void CreateWarning(ILogger logger, string runnerName, string warning);

    [LoggerMessage(EventId = 2015, Level = LogLevel.Debug, Message = "Removal of container {ContainerId} is already in progress")]
    public static partial void RemovalInProgress(ILogger logger, string containerId);

    [LoggerMessage(EventId = 2100, Level = LogLevel.Information, Message = "Removed shared volume {Volume}")]
    public static partial void VolumeRemoved(ILogger logger, string volume);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Debug, Message = "Shared volume {Volume} does not exist")]
    public static partial void VolumeNotFound(ILogger logger, string volume);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "Could not remove volume {Volume}")]
    public static partial void VolumeRemoveFailed(ILogger logger, string volume, Exception exception);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Information, Message = "Pruned {Count} dangling image(s), reclaimed {Reclaimed}")]
    public static partial void ImagesPruned(ILogger logger, int count, string reclaimed);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Warning, Message = "Could not prune dangling images")]
    public static partial void ImagesPruneFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Information, Message = "Pruned {Count} build cache entr(ies), reclaimed {Reclaimed}")]
    public static partial void BuildCachePruned(ILogger logger, int count, string reclaimed);

    [LoggerMessage(EventId = 2106, Level = LogLevel.Warning, Message = "Could not prune the build cache")]
    public static partial void BuildCachePruneFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2110, Level = LogLevel.Information, Message = "Deleting files older than {Ttl} (before {Cutoff:u}) from the shared volume {Volume} at {MountPath}")]
    public static partial void StaleSweepStarting(ILogger logger, TimeSpan ttl, DateTimeOffset cutoff, string volume, string mountPath);

    [LoggerMessage(EventId = 2111, Level = LogLevel.Information, Message = "Stale-file sweep of the shared volume {Volume} finished in {ElapsedMs} ms")]
    public static partial void StaleSweepFinished(ILogger logger, string volume, long elapsedMs);

    [LoggerMessage(EventId = 2112, Level = LogLevel.Warning, Message = "Could not remove the sweep helper container {Container}")]
    public static partial void StaleSweepCleanupFailed(ILogger logger, string container, Exception exception);

    [LoggerMessage(EventId = 2120, Level = LogLevel.Information, Message = "Removed orphaned buildx builder {Name} (created {Created:u})")]
    public static partial void BuildxBuilderRemoved(ILogger logger, string name, DateTime created);

    [LoggerMessage(EventId = 2121, Level = LogLevel.Information, Message = "Removed buildx volume {Volume}")]
    public static partial void BuildxVolumeRemoved(ILogger logger, string volume);

    [LoggerMessage(EventId = 2122, Level = LogLevel.Warning, Message = "Could not remove buildx builder resource {Name}")]
    public static partial void BuildxRemoveFailed(ILogger logger, string name, Exception exception);
}
