using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using RunnerBackends.Tart;

namespace RunnerBackends.Bench;

/// <summary>
/// The Tart backend against the tart simulator with fixed latencies (clone 100 ms, boot 3 s, exec 30 ms by default),
/// beside the seed's algorithm (<see cref="SeedTartBackend"/>) in the same harness: cold and warm start latency, the lag
/// between the guest agent becoming ready and the backend noticing, tart invocations per start, and probes during a
/// 30-second boot.
/// </summary>
/// <remarks>
/// dotnet run -c Release --project bench/RunnerBackends.Bench -- tart [--runs 10] [--seed-runs 5] [--clone-ms 100]
/// [--boot-ms 3000] [--exec-ms 30] [--long-boot-ms 30000] [--skip-long] [--tart path/to/simulator/tart]
/// </remarks>
internal static class TartBenchmark
{
    private static bool Verbose { get; set; }

    private const string Jit = "eyJiZW5jaG1hcmsiOiJub3QtYS1yZWFsLWppdC1jb25maWcifQ";

    public static async Task<int> RunAsync(BenchArguments options, CancellationToken cancellationToken)
    {
        var runs = options.GetInt("runs", 10);
        Verbose = options.GetFlag("verbose");
        var seedRuns = options.GetInt("seed-runs", Math.Min(runs, 5));
        var cloneMs = options.GetInt("clone-ms", 100);
        var bootMs = options.GetInt("boot-ms", 3000);
        var execMs = options.GetInt("exec-ms", 30);
        var longBootMs = options.GetInt("long-boot-ms", 30000);
        var simulator = options.GetString("tart", FindSimulator() ?? "");
        if (!File.Exists(simulator))
        {
            Console.Error.WriteLine("tart benchmark: the tart simulator was not found; pass --tart <path to TartSimulator/tart>");
            return 1;
        }

        var latencies = new Dictionary<string, string>
        {
            ["CLONE_MS"] = cloneMs.ToString(CultureInfo.InvariantCulture),
            ["BOOT_MS"] = bootMs.ToString(CultureInfo.InvariantCulture),
            ["EXEC_MS"] = execMs.ToString(CultureInfo.InvariantCulture),
            ["JOB_MS"] = "600000",
        };
        Console.WriteLine($"tart benchmark: simulator {simulator}; clone {cloneMs} ms, boot {bootMs} ms, exec {execMs} ms; {runs} runs (seed: {seedRuns})");

        var ours = new Samples();
        var seed = new Samples();

        await using (var home = await SimHome.CreateAsync(simulator, latencies, cancellationToken))
        {
            await OursColdAsync(home, runs, ours, cancellationToken);
            await OursWarmAsync(home, runs, ours, cancellationToken);
        }

        await using (var home = await SimHome.CreateAsync(simulator, latencies, cancellationToken))
        {
            await SeedColdAsync(home, seedRuns, seed, cancellationToken);
            await SeedWarmAsync(home, seedRuns, seed, cancellationToken);
        }

        if (!options.GetFlag("skip-long"))
        {
            var longBoot = new Dictionary<string, string>(latencies) { ["BOOT_MS"] = longBootMs.ToString(CultureInfo.InvariantCulture) };
            await using (var home = await SimHome.CreateAsync(simulator, longBoot, cancellationToken))
            {
                ours.LongBootProbes = await OursLongBootProbesAsync(home, cancellationToken);
            }

            await using (var home = await SimHome.CreateAsync(simulator, longBoot, cancellationToken))
            {
                seed.LongBootProbes = await SeedLongBootProbesAsync(home, cancellationToken);
            }
        }

        var coldTarget = cloneMs + bootMs + 400;
        var rows = new List<IReadOnlyList<string>>
        {
            Row("cold start (ms)", ours.Cold, seed.Cold, $"p50 <= {coldTarget}", Stats.Percentile(ours.Cold, 50) <= coldTarget),
            Row("warm start (ms)", ours.Warm, seed.Warm, "p50 <= 200", Stats.Percentile(ours.Warm, 50) <= 200),
            Row("detection lag (ms)", ours.Lag, seed.Lag, "p50 <= 300", Stats.Percentile(ours.Lag, 50) <= 300),
            Row("tart invocations / cold start", ours.ColdInvocations, seed.ColdInvocations, "-", null),
            Row("tart invocations / warm start", ours.WarmInvocations, seed.WarmInvocations, "max <= 3", ours.WarmInvocations.Count > 0 && ours.WarmInvocations.Max() <= 3),
            new List<string>
            {
                $"probes during a {longBootMs / 1000} s boot",
                ours.LongBootProbes?.ToString(CultureInfo.InvariantCulture) ?? "skipped", "",
                seed.LongBootProbes?.ToString(CultureInfo.InvariantCulture) ?? "skipped", "",
                "<= 40",
                ours.LongBootProbes switch { null => "-", <= 40 => "met", _ => "MISSED" },
            },
        };
        Console.WriteLine();
        Console.WriteLine(Stats.Table(["metric", "ours p50", "ours p95", "seed p50", "seed p95", "target", "ours"], rows));
        Console.WriteLine($"ratios (seed / ours, p50): cold {Stats.Ratio(Stats.Percentile(seed.Cold, 50) / Stats.Percentile(ours.Cold, 50))}, "
            + $"warm {Stats.Ratio(Stats.Percentile(seed.Warm, 50) / Stats.Percentile(ours.Warm, 50))}, "
            + $"detection lag {Stats.Ratio(Stats.Percentile(seed.Lag, 50) / Math.Max(1, Stats.Percentile(ours.Lag, 50)))}");
        return 0;
    }

    private static async Task OursColdAsync(SimHome home, int runs, Samples samples, CancellationToken cancellationToken)
    {
        await using var backend = new TartBackend(home.Options(poolSize: 0), new EventLogger());
        for (var i = 0; i < runs; i++)
        {
            var started = DateTimeOffset.UtcNow;
            var watch = Stopwatch.StartNew();
            var id = await backend.StartRunnerAsync($"cold-{i}", Jit, cancellationToken);
            samples.Cold.Add(watch.Elapsed.TotalMilliseconds);
            samples.Lag.Add(home.DetectionLag(id, detectedBy: ["exec", "-i", id]));
            samples.ColdInvocations.Add(home.InvocationsFor(id, started, DateTimeOffset.UtcNow));
            if (Verbose)
            {
                Console.WriteLine($"  cold {i}: {home.Timeline(id, started)}, total {watch.Elapsed.TotalMilliseconds:0} ms");
            }

            await backend.RemoveRunnerAsync(id, cancellationToken);
        }
    }

    private static async Task OursWarmAsync(SimHome home, int runs, Samples samples, CancellationToken cancellationToken)
    {
        var events = new EventLogger();
        await using var backend = new TartBackend(home.Options(poolSize: 1), events);
        backend.StartPool();
        for (var i = 0; i < runs; i++)
        {
            await events.WaitForPoolVmAsync(cancellationToken);
            var started = DateTimeOffset.UtcNow;
            var watch = Stopwatch.StartNew();
            var id = await backend.StartRunnerAsync($"warm-{i}", Jit, cancellationToken);
            samples.Warm.Add(watch.Elapsed.TotalMilliseconds);
            samples.WarmInvocations.Add(home.InvocationsFor(id, started, DateTimeOffset.UtcNow));
            await backend.RemoveRunnerAsync(id, cancellationToken);
        }
    }

    private static async Task SeedColdAsync(SimHome home, int runs, Samples samples, CancellationToken cancellationToken)
    {
        var seed = home.Seed();
        for (var i = 0; i < runs; i++)
        {
            var vm = $"seed-cold-{i}";
            var started = DateTimeOffset.UtcNow;
            var watch = Stopwatch.StartNew();
            await seed.BootAsync(vm, 0, cancellationToken);
            await seed.InjectAsync(vm, Jit, cancellationToken);
            samples.Cold.Add(watch.Elapsed.TotalMilliseconds);
            samples.Lag.Add(home.DetectionLag(vm, detectedBy: ["exec", vm, "test"]));
            samples.ColdInvocations.Add(home.InvocationsFor(vm, started, DateTimeOffset.UtcNow));
            await seed.RemoveAsync(vm, cancellationToken);
        }
    }

    private static async Task SeedWarmAsync(SimHome home, int runs, Samples samples, CancellationToken cancellationToken)
    {
        var seed = home.Seed();
        for (var i = 0; i < runs; i++)
        {
            var vm = $"seed-warm-{i}";
            await seed.BootAsync(vm, 0, cancellationToken);
            var started = DateTimeOffset.UtcNow;
            var watch = Stopwatch.StartNew();
            await seed.InjectAsync(vm, Jit, cancellationToken);
            samples.Warm.Add(watch.Elapsed.TotalMilliseconds);
            samples.WarmInvocations.Add(home.InvocationsFor(vm, started, DateTimeOffset.UtcNow));
            await seed.RemoveAsync(vm, cancellationToken);
        }
    }

    private static async Task<int> OursLongBootProbesAsync(SimHome home, CancellationToken cancellationToken)
    {
        await using var backend = new TartBackend(home.Options(poolSize: 0), new EventLogger());
        var id = await backend.StartRunnerAsync("long-boot", Jit, cancellationToken);
        await backend.RemoveRunnerAsync(id, cancellationToken);
        return home.Probes(id);
    }

    private static async Task<int> SeedLongBootProbesAsync(SimHome home, CancellationToken cancellationToken)
    {
        var seed = home.Seed();
        await seed.BootAsync("seed-long-boot", 0, cancellationToken);
        await seed.RemoveAsync("seed-long-boot", cancellationToken);
        return home.Probes("seed-long-boot");
    }

    private static List<string> Row(string metric, List<double> ours, List<double> seed, string target, bool? met) =>
    [
        metric,
        Stats.Ms(Stats.Percentile(ours, 50)), Stats.Ms(Stats.Percentile(ours, 95)),
        Stats.Ms(Stats.Percentile(seed, 50)), Stats.Ms(Stats.Percentile(seed, 95)),
        target,
        met switch { true => "met", false => "MISSED", null => "-" },
    ];

    private static string? FindSimulator()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "RunnerBackends.IntegrationTests", "TartSimulator", "tart");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private sealed class Samples
    {
        public List<double> Cold { get; } = [];

        public List<double> Warm { get; } = [];

        public List<double> Lag { get; } = [];

        public List<double> ColdInvocations { get; } = [];

        public List<double> WarmInvocations { get; } = [];

        public int? LongBootProbes { get; set; }
    }

    /// <summary>A TART_HOME of the simulator with a base image and fixed latencies, and readers of its records.</summary>
    private sealed class SimHome : IAsyncDisposable
    {
        private readonly string _tart;
        private readonly string _home;

        private SimHome(string tart, string home)
        {
            _tart = tart;
            _home = home;
        }

        public static async Task<SimHome> CreateAsync(string tart, IReadOnlyDictionary<string, string> config, CancellationToken cancellationToken)
        {
            var home = new SimHome(tart, Path.Combine(Path.GetTempPath(), "rb-bench-tart-" + Guid.NewGuid().ToString("N")[..8]));
            Directory.CreateDirectory(home._home);
            await home.TartAsync(cancellationToken, "sim-create-image", "runner-base");
            await File.WriteAllLinesAsync(Path.Combine(home._home, "sim", "config"), config.Select(kv => $"{kv.Key}={kv.Value}"), cancellationToken);
            File.Delete(Path.Combine(home._home, "sim", "invocations.log"));
            return home;
        }

        public TartBackendOptions Options(int poolSize) => new()
        {
            BaseImage = "runner-base",
            TartPath = _tart,
            TartHome = _home,
            VmNamePrefix = "bench",
            PoolSize = poolSize,
            MaxRunners = 2,
        };

        public SeedTartBackend Seed() => new(new ProcessCommandRunner(), _tart, _home, "runner-base", "/Users/admin/actions-runner");

        /// <summary>When the simulator's guest agent became ready (while the VM runs) to the first invocation that shows
        /// the backend knew.</summary>
        public double DetectionLag(string vm, string[] detectedBy)
        {
            var state = File.ReadAllText(Path.Combine(_home, "vms", vm, ".sim", "state")).Split(' ');
            var readyAt = long.Parse(state[1], CultureInfo.InvariantCulture);
            var detected = Invocations().First(i => i.Arguments.Take(detectedBy.Length).SequenceEqual(detectedBy)).EpochMs;
            return detected - readyAt;
        }

        public double InvocationsFor(string vm, DateTimeOffset from, DateTimeOffset to) =>
            Invocations().Count(i => i.EpochMs >= from.ToUnixTimeMilliseconds() && i.EpochMs <= to.ToUnixTimeMilliseconds() && i.Arguments.Contains(vm));

        /// <summary>Milestones of one start, in ms after <paramref name="started"/>: each invocation for the VM, and the agent's ready time.</summary>
        public string Timeline(string vm, DateTimeOffset started)
        {
            var origin = started.ToUnixTimeMilliseconds();
            var state = File.ReadAllText(Path.Combine(_home, "vms", vm, ".sim", "state")).Split(' ');
            var events = Invocations().Where(i => i.EpochMs >= origin && i.Arguments.Contains(vm))
                .Select(i => $"{string.Join(' ', i.Arguments.Take(3)).Replace("\n", " ", StringComparison.Ordinal)}@{i.EpochMs - origin}");
            return $"ready@{long.Parse(state[1], CultureInfo.InvariantCulture) - origin}: " + string.Join(", ", events.Where(e => !e.StartsWith("exec " + vm + " true", StringComparison.Ordinal)))
                + $", probes {Probes(vm)}";
        }

        public int Probes(string vm) => Invocations().Count(i => i.Arguments is ["exec", var name, "true"] && name == vm);

        public async ValueTask DisposeAsync()
        {
            var list = await TartAsync(CancellationToken.None, "list", "--format", "json");
            foreach (var node in System.Text.Json.Nodes.JsonNode.Parse(list.StandardOutput)!.AsArray())
            {
                if (node!["Running"]!.GetValue<bool>())
                {
                    try
                    {
                        await TartAsync(CancellationToken.None, "stop", node["Name"]!.GetValue<string>());
                    }
                    catch (CommandFailedException)
                    {
                        // Stopped meanwhile.
                    }
                }
            }

            Directory.Delete(_home, recursive: true);
        }

        private List<(long EpochMs, string[] Arguments)> Invocations() =>
            [.. File.ReadAllLines(Path.Combine(_home, "sim", "invocations.log"))
                .Select(line => line.Split('\t'))
                .Select(fields => (long.Parse(fields[0], CultureInfo.InvariantCulture), fields[1..]))];

        private Task<CommandResult> TartAsync(CancellationToken cancellationToken, params string[] arguments) =>
            new ProcessCommandRunner().RunAsync(
                new CommandRequest(_tart, arguments) { Environment = new Dictionary<string, string?> { ["TART_HOME"] = _home } },
                cancellationToken);
    }

    /// <summary>Signals each warm-pool VM that becomes ready (event 3010 of the Tart backend); drops everything else.</summary>
    private sealed class EventLogger : ILogger<TartBackend>
    {
        private readonly SemaphoreSlim _poolVmReady = new(0);

        public Task WaitForPoolVmAsync(CancellationToken cancellationToken) => _poolVmReady.WaitAsync(cancellationToken);

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id == 3010)
            {
                _poolVmReady.Release();
            }
            else if (logLevel >= LogLevel.Warning)
            {
                Console.Error.WriteLine($"  [{logLevel}] {formatter(state, exception)}");
            }
        }
    }
}
