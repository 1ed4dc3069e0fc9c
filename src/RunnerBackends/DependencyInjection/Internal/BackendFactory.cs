using Microsoft.Extensions.Logging;
using RunnerBackends.Docker;

namespace RunnerBackends.DependencyInjection.Internal;

/// <summary>Creates backends with the container's TimeProvider, which the public constructors do not all take.</summary>
internal static class BackendFactory
{
    public static DockerBackend CreateDocker(DockerBackendOptions options, IDockerApi docker, ILogger<DockerBackend>? logger, TimeProvider timeProvider) =>
        new(options, docker, logger, timeProvider, Docker.Internal.DockerResilience.DefaultBaseDelay);
}
