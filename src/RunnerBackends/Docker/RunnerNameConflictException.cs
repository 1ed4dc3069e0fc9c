namespace RunnerBackends.Docker;

/// <summary>
/// A container with the runner's name already exists, so no new one was created. It is usually left over from an
/// earlier run of the host: <see cref="DockerBackend.RemoveOrphansAsync"/> removes such containers.
/// </summary>
public sealed class RunnerNameConflictException : RunnerBackendException
{
    /// <summary>Initializes a new instance of the <see cref="RunnerNameConflictException"/> class.</summary>
    /// <param name="runnerName">The name that is already taken.</param>
    /// <param name="innerException">The engine's error.</param>
    public RunnerNameConflictException(string runnerName, Exception? innerException)
        : base($"A container named '{runnerName}' already exists, so runner '{runnerName}' was not created. " +
            "It is probably an orphan of an earlier run: call DockerBackend.RemoveOrphansAsync at startup, or remove it (docker rm -f " + runnerName + ").", innerException)
    {
        RunnerName = runnerName;
    }

    /// <summary>Gets the runner name that is already taken.</summary>
    public string RunnerName { get; }
}
