using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using RunnerHost.GitHub;
using RunnerHost.Keeper;

namespace RunnerHost.Hosting;

/// <summary>Builds the keeper's host: configuration, GitHub client, backend, keeper and console output.</summary>
public static class RunnerHostApp
{
    /// <summary>Short command-line switches for the common settings.</summary>
    public static readonly IReadOnlyDictionary<string, string> SwitchMappings = new Dictionary<string, string>
    {
        ["--backend"] = "Keeper:Backend",
        ["--min-idle"] = "Keeper:MinIdle",
        ["--max"] = "Keeper:Max",
        ["--url"] = "GitHub:Url",
        ["--api-url"] = "GitHub:ApiUrl",
        ["--labels"] = "GitHub:Labels:0",
        ["--runner-group-id"] = "GitHub:RunnerGroupId",
        ["--name-prefix"] = "GitHub:NamePrefix",
    };

    /// <summary>
    /// Creates the host builder: appsettings.json, environment variables, <paramref name="overrides"/> (the demo's),
    /// then the command line, in that order of precedence.
    /// </summary>
    /// <param name="args">Command-line arguments (<c>--Keeper:MinIdle=2</c>, <c>--backend tart</c>, ...).</param>
    /// <param name="overrides">Settings that the command line may still override.</param>
    /// <param name="addBackend">Registers the IRunnerBackend (and BackendHooks) instead of the configured backend.</param>
    /// <returns>The builder, ready to <c>Build()</c>.</returns>
    public static HostApplicationBuilder CreateBuilder(
        string[] args,
        IEnumerable<KeyValuePair<string, string?>>? overrides = null,
        Action<IServiceCollection, IConfiguration>? addBackend = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });
        if (overrides is not null)
        {
            builder.Configuration.AddInMemoryCollection(overrides);
        }

        builder.Configuration.AddCommandLine(args, SwitchMappings.ToDictionary(StringComparer.Ordinal));

        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.FormatterName = KeeperConsoleFormatter.Name);
        builder.Logging.AddConsoleFormatter<KeeperConsoleFormatter, ConsoleFormatterOptions>();

        (addBackend ?? BackendRegistration.Add)(builder.Services, builder.Configuration);
        AddKeeper(builder.Services, builder.Configuration);
        return builder;
    }

    /// <summary>Registers the keeper, its options (validated at start), the GitHub client and the status gauge.</summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The configuration holding the <c>Keeper</c> and <c>GitHub</c> sections.</param>
    /// <returns>The services.</returns>
    public static IServiceCollection AddKeeper(IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<KeeperOptions>().Bind(configuration.GetSection(KeeperOptions.Section)).ValidateOnStart();
        services.AddOptions<GitHubOptions>()
            .Bind(configuration.GetSection(GitHubOptions.Section))
            .PostConfigure(o => o.Token = string.IsNullOrEmpty(o.Token) ? Environment.GetEnvironmentVariable(o.TokenVariable) : o.Token)
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<KeeperOptions>, KeeperOptionsValidation>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GitHubOptions>, KeeperOptionsValidation>());
        // Read from configuration, not IOptions<KeeperOptions>: the host resolves HostOptions while it is built, and
        // the keeper's options must only be validated at start, where their failure is reported.
        services.Configure<HostOptions>(host => host.ShutdownTimeout =
            configuration.GetSection(KeeperOptions.Section).GetValue(nameof(KeeperOptions.ShutdownTimeout), new KeeperOptions().ShutdownTimeout));

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(BackendHooks.None);
        services.AddSingleton<WarmPoolGauge>();
        services.AddGitHubClient();
        services.AddSingleton<RunnerKeeper>();
        services.AddHostedService(provider => provider.GetRequiredService<RunnerKeeper>());
        return services;
    }
}
