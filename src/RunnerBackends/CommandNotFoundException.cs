namespace RunnerBackends;

/// <summary>
/// A program could not be started: it was not found on PATH, or is not executable.
/// </summary>
public class CommandNotFoundException : RunnerBackendException
{
    /// <summary>Initializes a new instance of the <see cref="CommandNotFoundException"/> class.</summary>
    /// <param name="fileName">The program that could not be started.</param>
    /// <param name="innerException">The operating system's error.</param>
    public CommandNotFoundException(string fileName, Exception? innerException)
        : base($"Could not start '{fileName}': {innerException?.Message ?? "not found"}. Install it, or give its full path.", innerException)
    {
        FileName = fileName;
    }

    /// <summary>Gets the program that could not be started.</summary>
    public string FileName { get; }
}
