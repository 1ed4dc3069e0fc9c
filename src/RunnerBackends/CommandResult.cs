namespace RunnerBackends;

/// <summary>
/// What a finished program returned.
/// </summary>
/// <param name="ExitCode">The exit code.</param>
/// <param name="StandardOutput">Everything written to standard output.</param>
/// <param name="StandardError">Everything written to standard error.</param>
public sealed record CommandResult(int ExitCode, string StandardOutput, string StandardError);
