namespace RunnerBackends;

/// <summary>
/// A program exited with a code other than 0. The message holds the command line, the exit code and standard error;
/// standard input (where secrets travel) is never included.
/// </summary>
public class CommandFailedException : RunnerBackendException
{
    /// <summary>Initializes a new instance of the <see cref="CommandFailedException"/> class.</summary>
    /// <param name="command">The command that failed.</param>
    /// <param name="result">What it returned.</param>
    public CommandFailedException(CommandRequest command, CommandResult result)
        : base(BuildMessage(command, result))
    {
        ArgumentNullException.ThrowIfNull(result);
        Command = command;
        ExitCode = result.ExitCode;
        StandardOutput = result.StandardOutput;
        StandardError = result.StandardError;
    }

    /// <summary>Gets the command that failed.</summary>
    public CommandRequest Command { get; }

    /// <summary>Gets the program's exit code.</summary>
    public int ExitCode { get; }

    /// <summary>Gets what the program wrote to standard output.</summary>
    public string StandardOutput { get; }

    /// <summary>Gets what the program wrote to standard error.</summary>
    public string StandardError { get; }

    private static string BuildMessage(CommandRequest command, CommandResult result)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(result);
        var stderr = result.StandardError.Trim();
        if (stderr.Length > 2000)
        {
            stderr = string.Concat("...", stderr.AsSpan(stderr.Length - 2000));
        }

        return stderr.Length == 0
            ? $"Command '{command}' exited with code {result.ExitCode} and wrote nothing to standard error."
            : $"Command '{command}' exited with code {result.ExitCode}: {stderr}";
    }
}
