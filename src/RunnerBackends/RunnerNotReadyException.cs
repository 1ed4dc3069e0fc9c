namespace RunnerBackends;

/// <summary>
/// A runner's machine (VM or container) did not become ready within its time budget, or stopped while it was awaited.
/// Everything created for it has been removed.
/// </summary>
public class RunnerNotReadyException : RunnerBackendException
{
    /// <summary>Initializes a new instance of the <see cref="RunnerNotReadyException"/> class.</summary>
    public RunnerNotReadyException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="RunnerNotReadyException"/> class with a message.</summary>
    /// <param name="message">What was awaited, for how long, and what to check.</param>
    public RunnerNotReadyException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="RunnerNotReadyException"/> class with a message and its cause.</summary>
    /// <param name="message">What was awaited, for how long, and what to check.</param>
    /// <param name="innerException">The last failure seen while waiting.</param>
    public RunnerNotReadyException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
