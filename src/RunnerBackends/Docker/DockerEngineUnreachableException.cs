namespace RunnerBackends.Docker;

/// <summary>
/// The Docker engine could not be reached at its endpoint (no socket, connection refused, permission denied).
/// Nothing was created. Check that the engine runs, that <c>DOCKER_HOST</c> names it and that this process may use its socket.
/// </summary>
public sealed class DockerEngineUnreachableException : RunnerBackendException
{
    /// <summary>Initializes a new instance of the <see cref="DockerEngineUnreachableException"/> class.</summary>
    /// <param name="endpoint">The endpoint that could not be reached.</param>
    /// <param name="innerException">The transport error.</param>
    public DockerEngineUnreachableException(Uri endpoint, Exception? innerException)
        : base(BuildMessage(endpoint, innerException), innerException)
    {
        Endpoint = endpoint;
    }

    /// <summary>Gets the endpoint that could not be reached.</summary>
    public Uri Endpoint { get; }

    private static string BuildMessage(Uri endpoint, Exception? innerException)
    {
        var reason = innerException?.GetBaseException().Message;
        return $"Cannot reach the Docker engine at {endpoint}{(string.IsNullOrEmpty(reason) ? "" : $" ({reason})")}. " +
            "Check that the engine is running, that DOCKER_HOST or the configured endpoint names it, and that this process may use it.";
    }
}
