using FakeGitHub;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using RunnerHost.Hosting;
using RunnerHost.Keeper;

namespace RunnerHost.Tests.Support;

/// <summary>The keeper's host wired to a fake GitHub on 127.0.0.1 and a backend the test chooses.</summary>
internal sealed class KeeperHarness : IAsyncDisposable
{
    private KeeperHarness(FakeGitHubServer github, IHost host, string namePrefix)
    {
        GitHub = github;
        Host = host;
        NamePrefix = namePrefix;
    }

    public FakeGitHubServer GitHub { get; }

    public IHost Host { get; }

    public string NamePrefix { get; }

    public RunnerKeeper Keeper => Host.Services.GetRequiredService<RunnerKeeper>();

    public FakeLogCollector Logs => Host.Services.GetFakeLogCollector();

    public static async Task<KeeperHarness> CreateAsync(
        Action<IServiceCollection, IConfiguration>? addBackend,
        IDictionary<string, string?>? settings = null,
        Action<FakeGitHubOptions>? configureGitHub = null,
        string[]? args = null)
    {
        var githubOptions = new FakeGitHubOptions { Token = "ghp_test" + Guid.NewGuid().ToString("N") };
        configureGitHub?.Invoke(githubOptions);
        var github = await FakeGitHubServer.StartAsync(githubOptions, TestContext.Current.CancellationToken);
        var prefix = "t" + Guid.NewGuid().ToString("N")[..8];
        var all = new Dictionary<string, string?>
        {
            ["GitHub:Url"] = "https://github.com/acme",
            ["GitHub:ApiUrl"] = github.ApiUrl.ToString(),
            ["GitHub:Token"] = github.Token,
            ["GitHub:NamePrefix"] = prefix,
            ["GitHub:PollInterval"] = "00:00:00.200",
            ["GitHub:MaxRetryDelay"] = "00:00:10",
            ["Keeper:MinIdle"] = "1",
            ["Keeper:Max"] = "3",
            ["Keeper:StatusInterval"] = "00:00:01",
            ["Keeper:StartBackoff"] = "00:00:00.200",
            ["Keeper:MaxStartBackoff"] = "00:00:02",
            ["Keeper:ShutdownTimeout"] = "00:00:30",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            all[key] = value;
        }

        var builder = RunnerHostApp.CreateBuilder(args ?? [], all, addBackend);
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddFakeLogging();
        return new KeeperHarness(github, builder.Build(), prefix);
    }

    public static Action<IServiceCollection, IConfiguration> With(FakeRunnerBackend backend) =>
        (services, _) => services.AddSingleton<RunnerBackends.IRunnerBackend>(backend);

    private bool _started;

    public async Task StartAsync()
    {
        await Host.StartAsync(TestContext.Current.CancellationToken);
        _started = true;
    }

    public Task StopAsync() => Host.StopAsync(CancellationToken.None);

    public IReadOnlyList<FakeRunner> OurRegistrations() => [.. GitHub.Runners.Where(r => r.Name.StartsWith(NamePrefix + "-", StringComparison.Ordinal))];

    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out after {timeout.TotalSeconds:0.#} s waiting until {what}.");
            }

            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    public string AllLogText() => string.Join('\n', Logs.GetSnapshot().Select(r => r.Message + " " + r.Exception));

    public async ValueTask DisposeAsync()
    {
        // A host whose start failed (invalid options) cannot be stopped: it never started anything.
        if (_started)
        {
            await Host.StopAsync(CancellationToken.None);
        }

        Host.Dispose();
        await GitHub.DisposeAsync();
    }
}
