namespace RunnerBackends;

/// <summary>
/// Starts and removes ephemeral GitHub Actions runners on one execution backend
/// (a Docker container or a Tart macOS VM per runner).
/// </summary>
/// <remarks>
/// Implementations are safe for concurrent use. Disposing a backend is the same as
/// <see cref="ShutdownAsync"/> and may be done more than once.
/// </remarks>
public interface IRunnerBackend : IAsyncDisposable
{
    /// <summary>
    /// Creates and starts a new ephemeral runner that registers itself with the given just-in-time configuration.
    /// </summary>
    /// <param name="name">
    /// The runner's name: 1 to 64 letters, digits, <c>-</c>, <c>_</c> or <c>.</c>, starting with a letter or digit
    /// (see <see cref="RunnerName"/>).
    /// </param>
    /// <param name="jitConfig">The encoded JIT configuration from GitHub. It is a secret: it never appears in a log, an exception or a process argument.</param>
    /// <param name="cancellationToken">Cancels the start; whatever was created for the runner so far is removed.</param>
    /// <returns>The resource id of the runner (a container id or a VM name), for <see cref="RemoveRunnerAsync"/> and <see cref="WaitForExitAsync"/>.</returns>
    /// <exception cref="ArgumentException">The name breaks the runner-name rule or the JIT config is empty; nothing was created.</exception>
    /// <exception cref="RunnerBackendException">The runner could not be started; nothing is left behind.</exception>
    Task<string> StartRunnerAsync(string name, string jitConfig, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stops and removes a runner. Idempotent: a runner that is already gone is success.
    /// </summary>
    /// <param name="resourceId">The id returned by <see cref="StartRunnerAsync"/>.</param>
    /// <param name="cancellationToken">Cancels the removal.</param>
    Task RemoveRunnerAsync(string resourceId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Completes when the runner's process has finished: an ephemeral runner exits after one job.
    /// </summary>
    /// <param name="resourceId">The id returned by <see cref="StartRunnerAsync"/>.</param>
    /// <param name="cancellationToken">Stops waiting; the runner is left as it is.</param>
    /// <returns>How the runner ended, with its exit code where the backend knows it.</returns>
    Task<RunnerExit> WaitForExitAsync(string resourceId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stops background work (such as a warm pool), then removes every runner, container or VM this instance created
    /// and still holds, so that nothing is left behind. Further starts are refused. Idempotent.
    /// </summary>
    /// <param name="cancellationToken">Bounds how long shutdown may take; what could not be removed in time is left to
    /// the backend's orphan cleanup (<c>RemoveOrphansAsync</c>) at the next start.</param>
    Task ShutdownAsync(CancellationToken cancellationToken = default);
}
