namespace RunnerBackends.Docker;

/// <summary>
/// The labels this library puts on every container it creates, so that hosts and operators can find them
/// (for example <c>docker ps --filter label=io.github.runnerbackends.managed-by=runnerbackends</c>).
/// </summary>
public static class DockerLabels
{
    /// <summary>The label that marks a container as created by this library; its value is <see cref="ManagedByValue"/>.</summary>
    public const string ManagedBy = "io.github.runnerbackends.managed-by";

    /// <summary>The value of <see cref="ManagedBy"/>.</summary>
    public const string ManagedByValue = "runnerbackends";

    /// <summary>The label holding <see cref="DockerBackendOptions.Owner"/>, which scopes orphan cleanup to one host application.</summary>
    public const string Owner = "io.github.runnerbackends.owner";

    /// <summary>The label holding the runner's name.</summary>
    public const string RunnerName = "io.github.runnerbackends.runner-name";

    /// <summary>The label that says why a helper container exists (for example <c>shared-volume-cleanup</c>).</summary>
    public const string Purpose = "io.github.runnerbackends.purpose";
}
