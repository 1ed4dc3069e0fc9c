namespace RunnerBackends;

/// <summary>
/// A program to run with an argument list (never a joined command line), optional standard input and extra environment.
/// </summary>
public sealed class CommandRequest
{
    /// <summary>Initializes a new instance of the <see cref="CommandRequest"/> class.</summary>
    /// <param name="fileName">The program: a name looked up on PATH, or a path.</param>
    /// <param name="arguments">The arguments, each passed to the program as one argument, unquoted and unsplit.</param>
    /// <exception cref="ArgumentException"><paramref name="fileName"/> is empty.</exception>
    public CommandRequest(string fileName, IEnumerable<string> arguments)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(fileName);
        ArgumentNullException.ThrowIfNull(arguments);
        FileName = fileName;
        Arguments = [.. arguments];
    }

    /// <summary>Initializes a new instance of the <see cref="CommandRequest"/> class.</summary>
    /// <param name="fileName">The program: a name looked up on PATH, or a path.</param>
    /// <param name="arguments">The arguments, each passed to the program as one argument, unquoted and unsplit.</param>
    public CommandRequest(string fileName, params string[] arguments)
        : this(fileName, (IEnumerable<string>)arguments)
    {
    }

    /// <summary>Gets the program to run.</summary>
    public string FileName { get; }

    /// <summary>Gets the argument list.</summary>
    public IReadOnlyList<string> Arguments { get; }

    /// <summary>
    /// Gets the text written to the program's standard input, which is then closed; <see langword="null"/> gives the
    /// program an empty, closed standard input. This is the channel for secrets: it is never logged or shown in errors.
    /// </summary>
    public string? StandardInput { get; init; }

    /// <summary>
    /// Gets variables added to (or, with a <see langword="null"/> value, removed from) the program's inherited environment.
    /// Values are not shown in errors.
    /// </summary>
    public IReadOnlyDictionary<string, string?>? Environment { get; init; }

    /// <summary>Gets the working directory; <see langword="null"/> for the current one.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>Returns the program and its arguments as one line for messages (arguments with spaces are quoted).</summary>
    /// <returns>The command line as text.</returns>
    public override string ToString() => CommandLine.Format(FileName, Arguments);
}
