using Microsoft.Extensions.Logging;

namespace RunnerBackends.Tart.Internal;

/// <summary>Log events of the Tart backend (event ids 3000-3999). No event carries a JIT configuration.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 3000, Level = LogLevel.Debug, Message = "Cloning {Image} into VM {Vm} (slot {Slot})")]
    public static partial void Cloning(ILogger logger, string image, string vm, int slot);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "VM {Vm} is ready after {ElapsedMs} ms and {Probes} probes")]
    public static partial void VmReady(ILogger logger, string vm, long elapsedMs, int probes);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "VM {Vm} is not ready yet (probe {Probe}): {Error}")]
    public static partial void ProbeFailed(ILogger logger, string vm, int probe, string error);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "Runner {Runner} started in VM {Vm} ({Kind} start, {ElapsedMs} ms)")]
    public static partial void RunnerStarted(ILogger logger, string runner, string vm, string kind, long elapsedMs);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Runner {Runner} could not be started; removing its VM {Vm}")]
    public static partial void StartFailed(ILogger logger, Exception exception, string runner, string? vm);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Information, Message = "Removed VM {Vm}")]
    public static partial void VmRemoved(ILogger logger, string vm);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "tart stop {Vm} failed; the VM is killed instead: {Error}")]
    public static partial void StopFailed(ILogger logger, string vm, string error);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Error, Message = "tart delete {Vm} failed; its slot was released, the VM is left on disk: {Error}")]
    public static partial void DeleteFailed(ILogger logger, string vm, string error);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Warning, Message = "Could not set the MAC address of VM {Vm} in {Path}; it keeps the image's address")]
    public static partial void MacAddressNotSet(ILogger logger, Exception exception, string vm, string path);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Warning, Message = "Warm pool: booting a VM failed (attempt {Attempt}); retrying in {DelayMs} ms")]
    public static partial void PoolBootFailed(ILogger logger, Exception? exception, int attempt, long delayMs);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "Warm pool: VM {Vm} is ready")]
    public static partial void PoolVmReady(ILogger logger, string vm);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Warning, Message = "Warm pool: idle VM {Vm} stopped; replacing it")]
    public static partial void PoolVmStopped(ILogger logger, string vm);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Information, Message = "Removed orphaned VM {Vm}")]
    public static partial void OrphanRemoved(ILogger logger, string vm);

    [LoggerMessage(EventId = 3013, Level = LogLevel.Warning, Message = "Could not remove orphaned VM {Vm}")]
    public static partial void OrphanNotRemoved(ILogger logger, Exception exception, string vm);

    [LoggerMessage(EventId = 3014, Level = LogLevel.Debug, Message = "Image {Image} is present")]
    public static partial void ImagePresent(ILogger logger, string image);

    [LoggerMessage(EventId = 3015, Level = LogLevel.Information, Message = "Pulling image {Image}")]
    public static partial void ImagePulling(ILogger logger, string image);

    [LoggerMessage(EventId = 3016, Level = LogLevel.Information, Message = "tart pull: {Line}")]
    public static partial void PullProgress(ILogger logger, string line);

    [LoggerMessage(EventId = 3017, Level = LogLevel.Debug, Message = "Tart cache prune skipped: neither a maximum age nor a space budget is set")]
    public static partial void PruneSkipped(ILogger logger);

    [LoggerMessage(EventId = 3018, Level = LogLevel.Information, Message = "Pruning the Tart cache ({Criteria})")]
    public static partial void Pruning(ILogger logger, string criteria);

    [LoggerMessage(EventId = 3019, Level = LogLevel.Debug, Message = "tart run {Vm} exited: {Outcome}")]
    public static partial void RunExited(ILogger logger, string vm, string outcome);

    [LoggerMessage(EventId = 3020, Level = LogLevel.Information, Message = "Tart backend shutting down: removing {Count} VMs")]
    public static partial void ShuttingDown(ILogger logger, int count);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Warning, Message = "Waiting for the runner in VM {Vm} to exit: tart exec failed, retrying: {Error}")]
    public static partial void ExitWaitRetry(ILogger logger, string vm, string error);

    [LoggerMessage(EventId = 3022, Level = LogLevel.Information, Message = "Warm pool started: keeping {PoolSize} VMs ready")]
    public static partial void PoolStarted(ILogger logger, int poolSize);

    [LoggerMessage(EventId = 3023, Level = LogLevel.Warning, Message = "Could not remove VM {Vm} during shutdown")]
    public static partial void ShutdownRemoveFailed(ILogger logger, Exception exception, string vm);

    [LoggerMessage(EventId = 3024, Level = LogLevel.Debug, Message = "Not removing {Vm}: this backend did not create it and its name lacks the prefix {Prefix}")]
    public static partial void RemoveIgnored(ILogger logger, string vm, string prefix);

    [LoggerMessage(EventId = 3026, Level = LogLevel.Debug, Message = "VM {Vm}: next readiness probe in {DelayMs} ms (retry {Retry})")]
    public static partial void ProbeRetrying(ILogger logger, string vm, long delayMs, int retry);

    [LoggerMessage(EventId = 3027, Level = LogLevel.Warning, Message = "tart run {Vm} hit Apple's limit of running VMs (attempt {Attempt}); retrying")]
    public static partial void SystemLimitRetry(ILogger logger, string vm, int attempt);

    [LoggerMessage(EventId = 3025, Level = LogLevel.Warning, Message = "Warm pool loop ended unexpectedly")]
    public static partial void PoolLoopFailed(ILogger logger, Exception exception);
}
