namespace RunnerBackends;

/// <summary>
/// How a runner ended.
/// </summary>
/// <param name="ExitCode">
/// The exit code of the runner's process where the backend knows it (a container's exit code);
/// <see langword="null"/> where it does not (a VM that was stopped, or a runner whose process vanished).
/// </param>
public sealed record RunnerExit(int? ExitCode)
{
    /// <summary>Gets a value indicating whether the runner is known to have exited with code 0.</summary>
    public bool Succeeded => ExitCode == 0;
}
