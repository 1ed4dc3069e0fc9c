namespace RunnerBackends;

/// <summary>
/// Runs external programs (such as the <c>tart</c> CLI) for a backend. The seam that tests replace.
/// </summary>
public interface ICommandRunner
{
    /// <summary>
    /// Runs a program to completion and returns its output.
    /// </summary>
    /// <param name="command">What to run: the program, its argument list, standard input and environment.</param>
    /// <param name="cancellationToken">Kills the program and every process it started, then throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>The exit code and the captured standard output and error.</returns>
    /// <exception cref="CommandFailedException">The program exited with a code other than 0.</exception>
    /// <exception cref="CommandNotFoundException">The program could not be started (not found or not executable).</exception>
    Task<CommandResult> RunAsync(CommandRequest command, CancellationToken cancellationToken = default);

    /// <summary>
    /// Runs a program to completion, reporting each line it writes to standard output or error as it comes (for long
    /// operations such as an image pull), and returns its output.
    /// </summary>
    /// <param name="command">What to run.</param>
    /// <param name="output">Receives each output line, standard output and error alike.</param>
    /// <param name="cancellationToken">Kills the program and every process it started, then throws <see cref="OperationCanceledException"/>.</param>
    /// <returns>The exit code and the captured standard output and error.</returns>
    /// <exception cref="CommandFailedException">The program exited with a code other than 0.</exception>
    /// <exception cref="CommandNotFoundException">The program could not be started (not found or not executable).</exception>
    Task<CommandResult> RunStreamingAsync(CommandRequest command, IProgress<string> output, CancellationToken cancellationToken = default);
}
