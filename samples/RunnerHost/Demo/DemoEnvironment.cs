using System.Diagnostics;
using FakeGitHub;
using Microsoft.Extensions.Configuration;
using RunnerHost.Hosting;

namespace RunnerHost.Demo;

/// <summary>
/// What <c>--demo</c> runs on instead of GitHub and a real runner: the in-process fake GitHub on 127.0.0.1 (which
/// hands simulated jobs to idle runners) and either the offline Docker test image or the tart simulator.
/// </summary>
public sealed class DemoEnvironment : IAsyncDisposable
{
    /// <summary>The image the Docker demo runs (built offline by the integration tests' build-test-image.sh).</summary>
    public const string DockerImage = "runnerbackends/test-runner:local";

    private const string SimulatorRelativePath = "tests/RunnerBackends.IntegrationTests/TartSimulator/tart";

    private readonly FakeGitHubServer _github;
    private readonly string? _tartHome;

    private DemoEnvironment(FakeGitHubServer github, string? tartHome, Dictionary<string, string?> settings)
    {
        _github = github;
        _tartHome = tartHome;
        Settings = settings;
    }

    /// <summary>The settings that point the keeper at the fake (the command line can still override them).</summary>
    public IReadOnlyDictionary<string, string?> Settings { get; }

    /// <summary>The fake GitHub.</summary>
    public FakeGitHubServer GitHub => _github;

    /// <summary>Starts the fake GitHub and prepares the backend's demo resources.</summary>
    /// <param name="args">The command line (for <c>--backend</c> and <c>--Demo:TartSimulator=PATH</c>).</param>
    /// <returns>The environment; dispose it after the host stopped.</returns>
    public static async Task<DemoEnvironment> StartAsync(string[] args)
    {
        var commandLine = new ConfigurationBuilder().AddCommandLine(args, RunnerHostApp.SwitchMappings.ToDictionary(StringComparer.Ordinal)).Build();
        var backend = commandLine["Keeper:Backend"] ?? "docker";
        // The test image's runner "runs a job" for 3 s after it starts, the simulator's for JOB_MS: the fake's job
        // starts a second after registration and ends about when the runner exits.
        var job = TimeSpan.FromSeconds(backend == "tart" ? 5 : 2);
        var github = await FakeGitHubServer.StartAsync(new FakeGitHubOptions
        {
            Token = "demo-" + Guid.NewGuid().ToString("N"),
            JobPickupDelay = TimeSpan.FromSeconds(1),
            JobInterval = TimeSpan.FromSeconds(0.5),
            JobDuration = job,
        });
        var settings = new Dictionary<string, string?>
        {
            ["GitHub:Url"] = "https://github.com/demo-org",
            ["GitHub:ApiUrl"] = github.ApiUrl.ToString(),
            ["GitHub:Token"] = github.Token,
            ["GitHub:NamePrefix"] = "demo",
            ["GitHub:PollInterval"] = "00:00:00.500",
            ["GitHub:Labels:0"] = "self-hosted",
            ["GitHub:Labels:1"] = "demo",
            ["Keeper:MinIdle"] = "1",
            ["Keeper:StatusInterval"] = "00:00:03",
            ["Keeper:StartBackoff"] = "00:00:01",
            ["Keeper:MaxStartBackoff"] = "00:00:10",
            ["Keeper:ShutdownTimeout"] = "00:00:30",
        };

        string? tartHome = null;
        if (backend == "tart")
        {
            var simulator = commandLine["Demo:TartSimulator"] ?? FindSimulator()
                ?? throw new InvalidOperationException($"The tart simulator ({SimulatorRelativePath}) was not found above {AppContext.BaseDirectory}; pass --Demo:TartSimulator=PATH.");
            tartHome = Directory.CreateTempSubdirectory("runnerhost-demo-tart-").FullName;
            Directory.CreateDirectory(Path.Combine(tartHome, "sim"));
            // The simulated VMs boot in 1.5 s and their runner "runs a job" for as long as the fake's job lasts.
            await File.WriteAllTextAsync(Path.Combine(tartHome, "sim", "config"), $"BOOT_MS=1500\nJOB_MS={(int)job.TotalMilliseconds + 1000}\n");
            await RunAsync(simulator, tartHome, "sim-create-image", "demo-base");
            settings["Keeper:Max"] = "2";
            settings["Tart:TartPath"] = simulator;
            settings["Tart:TartHome"] = tartHome;
            settings["Tart:BaseImage"] = "demo-base";
            settings["Tart:PoolSize"] = "1";
            settings["Tart:MaxRunners"] = "2";
            settings["Tart:VmNamePrefix"] = "demo";
        }
        else
        {
            settings["Keeper:Max"] = "3";
            settings["Docker:RunnerImage"] = DockerImage;
            settings["Docker:MountDockerSocket"] = "false";
            settings["Docker:Owner"] = "runnerhost-demo";
        }

        Console.WriteLine($"demo: fake GitHub at {github.ApiUrl} (organisation demo-org), backend {backend}; each runner gets a simulated job a second after it registers");
        return new DemoEnvironment(github, tartHome, settings);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        var left = _github.Runners;
        Console.WriteLine($"demo: {_github.CompletedJobs.Count} job(s) completed; {left.Count} registration(s) left on the fake GitHub");
        await _github.DisposeAsync();
        if (_tartHome is not null)
        {
            try
            {
                Directory.Delete(_tartHome, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static string? FindSimulator()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, SimulatorRelativePath);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static async Task RunAsync(string fileName, string tartHome, params string[] arguments)
    {
        var start = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["TART_HOME"] = tartHome;
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{fileName} {string.Join(' ', arguments)} exited with {process.ExitCode}: {await error}");
        }
    }
}
