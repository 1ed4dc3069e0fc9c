using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RunnerBackends.Docker;
using RunnerBackends.Tart;
using RunnerHost.Keeper;

namespace RunnerHost.Hosting;

/// <summary>Registers the backend <c>Keeper:Backend</c> names, through the library's own DI extensions.</summary>
internal static partial class BackendRegistration
{
    public static void Add(IServiceCollection services, IConfiguration configuration)
    {
        var backend = configuration[$"{KeeperOptions.Section}:{nameof(KeeperOptions.Backend)}"] ?? new KeeperOptions().Backend;
        if (backend == "tart")
        {
            services.AddTartRunnerBackend(configuration.GetSection("Tart"));
            services.AddSingleton(provider =>
            {
                var tart = provider.GetRequiredService<TartBackend>();
                var options = provider.GetRequiredService<IOptions<TartBackendOptions>>().Value;
                var logger = provider.GetRequiredService<ILogger<TartBackend>>();
                return new BackendHooks(tart.RemoveOrphansAsync, async cancellationToken =>
                {
                    // Pulls the base image when it is not local yet (progress goes to the console), then warms the pool.
                    await tart.EnsureImageAsync(new Progress<string>(line => LogPull(logger, line)), cancellationToken);
                    if (options.PoolSize > 0)
                    {
                        tart.StartPool();
                    }
                });
            });
        }
        else
        {
            // Any other value is reported by the keeper's options validation at start.
            services.AddDockerRunnerBackend(configuration.GetSection("Docker"));
            services.AddSingleton(provider => new BackendHooks(provider.GetRequiredService<DockerBackend>().RemoveOrphansAsync, _ => Task.CompletedTask));
        }
    }

    [LoggerMessage(EventId = 4200, Level = LogLevel.Information, Message = "pull: {Line}")]
    private static partial void LogPull(ILogger logger, string line);
}
