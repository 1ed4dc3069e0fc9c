using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RunnerBackends;
using RunnerBackends.DependencyInjection.Internal;
using RunnerBackends.Docker;
using RunnerBackends.Tart;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers a RunnerBackends backend in a dependency-injection container, the way hosts built on
/// Microsoft.Extensions.Hosting expect: options bound from configuration (or a delegate) and validated when the host
/// starts, <see cref="TimeProvider"/> and <see cref="ILogger{TCategoryName}"/> taken from the container, and the
/// backend registered as <see cref="IRunnerBackend"/> and as its own type, as a singleton the container disposes (which
/// shuts it down: every runner it still holds is removed).
/// </summary>
/// <remarks>
/// Register one backend per container: <see cref="IRunnerBackend"/> resolves to the first one registered. Dispose the
/// container asynchronously (the generic host does): backends are <see cref="IAsyncDisposable"/>.
/// </remarks>
public static class RunnerBackendsServiceCollectionExtensions
{
    /// <summary>The configuration key, beside the <see cref="DockerBackendOptions"/> keys, of the Docker engine endpoint.</summary>
    public const string DockerEndpointKey = "Endpoint";

    /// <summary>
    /// Registers the Docker backend with options bound from <paramref name="configuration"/> (for example the
    /// <c>Docker</c> section: <c>RunnerImage</c>, <c>MountDockerSocket</c>, <c>Owner</c>, ...), plus an optional
    /// <c>Endpoint</c> key naming the engine (default: <c>DOCKER_HOST</c>, else the platform's socket).
    /// </summary>
    /// <param name="services">The container's services.</param>
    /// <param name="configuration">The configuration section holding the options.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <remarks>
    /// Invalid options fail the host's start with an <see cref="OptionsValidationException"/> listing every problem.
    /// An <see cref="IDockerApi"/> already registered is used instead of connecting to the endpoint.
    /// </remarks>
    public static IServiceCollection AddDockerRunnerBackend(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<DockerBackendOptions>().Bind(configuration).ValidateOnStart();
        return services.AddDockerRunnerBackendCore(() => configuration[DockerEndpointKey]);
    }

    /// <summary>Registers the Docker backend with options set by <paramref name="configure"/>.</summary>
    /// <param name="services">The container's services.</param>
    /// <param name="configure">Sets the options (at least <see cref="DockerBackendOptions.RunnerImage"/>).</param>
    /// <param name="endpoint">The Docker engine endpoint; null uses <c>DOCKER_HOST</c>, else the platform's socket.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="services"/> or <paramref name="configure"/> is null.</exception>
    /// <remarks>Invalid options fail the host's start with an <see cref="OptionsValidationException"/> listing every problem.</remarks>
    public static IServiceCollection AddDockerRunnerBackend(this IServiceCollection services, Action<DockerBackendOptions> configure, Uri? endpoint = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<DockerBackendOptions>().Configure(configure).ValidateOnStart();
        return services.AddDockerRunnerBackendCore(() => endpoint?.ToString());
    }

    /// <summary>
    /// Registers the Tart backend with options bound from <paramref name="configuration"/> (for example the
    /// <c>Tart</c> section: <c>BaseImage</c>, <c>PoolSize</c>, <c>MaxRunners</c>, <c>TartHome</c>, ...). The tart CLI
    /// runs through the registered <see cref="ICommandRunner"/>, by default a <see cref="ProcessCommandRunner"/>.
    /// </summary>
    /// <param name="services">The container's services.</param>
    /// <param name="configuration">The configuration section holding the options.</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <remarks>
    /// Invalid options fail the host's start with an <see cref="OptionsValidationException"/> listing every problem.
    /// The warm pool is not started by registration: call <see cref="TartBackend.StartPool"/> when the host is ready.
    /// </remarks>
    public static IServiceCollection AddTartRunnerBackend(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<TartBackendOptions>().Bind(configuration).ValidateOnStart();
        return services.AddTartRunnerBackendCore();
    }

    /// <summary>Registers the Tart backend with options set by <paramref name="configure"/>.</summary>
    /// <param name="services">The container's services.</param>
    /// <param name="configure">Sets the options (at least <see cref="TartBackendOptions.BaseImage"/>).</param>
    /// <returns><paramref name="services"/>, for chaining.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <remarks>Invalid options fail the host's start with an <see cref="OptionsValidationException"/> listing every problem.</remarks>
    public static IServiceCollection AddTartRunnerBackend(this IServiceCollection services, Action<TartBackendOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<TartBackendOptions>().Configure(configure).ValidateOnStart();
        return services.AddTartRunnerBackendCore();
    }

    private static IServiceCollection AddDockerRunnerBackendCore(this IServiceCollection services, Func<string?> endpoint)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DockerBackendOptions>, BackendOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        // The container owns (and disposes) the engine client it creates; one supplied by the caller is used as is.
        services.TryAddSingleton<IDockerApi>(_ => DockerApi.Connect(ParseEndpoint(endpoint())));
        services.TryAddSingleton(provider => BackendFactory.CreateDocker(
            provider.GetRequiredService<IOptions<DockerBackendOptions>>().Value,
            provider.GetRequiredService<IDockerApi>(),
            provider.GetService<ILogger<DockerBackend>>(),
            provider.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IRunnerBackend>(provider => provider.GetRequiredService<DockerBackend>());
        return services;
    }

    private static IServiceCollection AddTartRunnerBackendCore(this IServiceCollection services)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TartBackendOptions>, BackendOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ICommandRunner>(provider => new ProcessCommandRunner(
            provider.GetService<ILogger<ProcessCommandRunner>>(),
            provider.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(provider => new TartBackend(
            provider.GetRequiredService<IOptions<TartBackendOptions>>().Value,
            provider.GetService<ILogger<TartBackend>>(),
            provider.GetRequiredService<ICommandRunner>(),
            provider.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<IRunnerBackend>(provider => provider.GetRequiredService<TartBackend>());
        return services;
    }

    private static Uri? ParseEndpoint(string? endpoint)
    {
        if (string.IsNullOrWhiteSpace(endpoint))
        {
            return null;
        }

        return Uri.TryCreate(endpoint, UriKind.Absolute, out var uri)
            ? uri
            : throw new OptionsValidationException(
                nameof(DockerBackendOptions),
                typeof(DockerBackendOptions),
                [$"Docker endpoint '{endpoint}' is not an absolute URI (e.g. unix:///var/run/docker.sock or tcp://127.0.0.1:2375)."]);
    }
}
