namespace RunnerHost.Keeper;

/// <summary>
/// What the keeper does with the backend beyond IRunnerBackend, set by the backend's registration: remove the
/// containers or VMs a previous run of this host left behind, and start a warm pool.
/// </summary>
/// <param name="RemoveOrphansAsync">Removes leftovers of this owner; returns their ids.</param>
/// <param name="StartAsync">Prepares the backend (e.g. starts the Tart warm pool) after orphans are gone.</param>
public sealed record BackendHooks(
    Func<CancellationToken, Task<IReadOnlyList<string>>> RemoveOrphansAsync,
    Func<CancellationToken, Task> StartAsync)
{
    /// <summary>Hooks that do nothing (a backend without orphan cleanup).</summary>
    public static BackendHooks None { get; } = new(_ => Task.FromResult<IReadOnlyList<string>>([]), _ => Task.CompletedTask);
}
