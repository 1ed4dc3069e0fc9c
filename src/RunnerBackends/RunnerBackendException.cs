namespace RunnerBackends;

/// <summary>
/// The base type of every error this library raises about a runner or its backend.
/// Messages say what failed, with what, and what to do; they never hold a JIT config or a token.
/// </summary>
public class RunnerBackendException : Exception
{
    /// <summary>Initializes a new instance of the <see cref="RunnerBackendException"/> class.</summary>
    public RunnerBackendException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="RunnerBackendException"/> class with a message.</summary>
    /// <param name="message">What failed and what to do.</param>
    public RunnerBackendException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="RunnerBackendException"/> class with a message and its cause.</summary>
    /// <param name="message">What failed and what to do.</param>
    /// <param name="innerException">The cause.</param>
    public RunnerBackendException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
