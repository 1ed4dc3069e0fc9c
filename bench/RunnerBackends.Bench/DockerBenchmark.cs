using System.Diagnostics;
using System.Globalization;
using Docker.DotNet;
using Docker.DotNet.Models;
using RunnerBackends.Docker;

namespace RunnerBackends.Bench;

/// <summary>
/// <c>docker</c> mode: the latency of one runner's start+remove through the library, beside the same work done with raw
/// Docker.DotNet calls and with the docker CLI, interleaved round robin so that noise hits the three alike; then a burst
/// of runners started with bounded concurrency and removed.
/// </summary>
/// <remarks>
/// Options: --runners 30 (per variant), --burst 100, --concurrency 16, --warmup 3, --image runnerbackends/test-runner:local.
/// The fake runner image is built with tests/RunnerBackends.IntegrationTests/DockerImage/build-test-image.sh when missing.
/// </remarks>
internal static class DockerBenchmark
{
    private const string JitConfig = "job=600";
    private const string BenchLabel = "io.github.runnerbackends.bench";

    public static async Task<int> RunAsync(BenchArguments options, CancellationToken cancellationToken)
    {
        var runners = options.GetInt("runners", 30);
        var burst = options.GetInt("burst", 100);
        var concurrency = options.GetInt("concurrency", 16);
        var warmup = options.GetInt("warmup", 3);
        var image = options.GetString("image", "runnerbackends/test-runner:local");
        var session = "rbbench" + Guid.NewGuid().ToString("N")[..8];
        var commands = new ProcessCommandRunner();

        await EnsureImageAsync(commands, image, cancellationToken);

        using var api = DockerApi.Connect();
        using var raw = new DockerClientBuilder().Build();
        var backendOptions = new DockerBackendOptions { RunnerImage = image, MountDockerSocket = false, Owner = session };
        await using var backend = new DockerBackend(backendOptions, api);

        try
        {
            var variants = new (string Name, Func<string, Task> Run)[]
            {
                ("library (DockerBackend)", async name =>
                {
                    var id = await backend.StartRunnerAsync(name, JitConfig, cancellationToken);
                    await backend.RemoveRunnerAsync(id, cancellationToken);
                }),
                ("raw Docker.DotNet", async name =>
                {
                    var created = await raw.Containers.CreateContainerAsync(RawParameters(name, image, session), cancellationToken);
                    await raw.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), cancellationToken);
                    await raw.Containers.RemoveContainerAsync(created.ID, new ContainerRemoveParameters { Force = true }, cancellationToken);
                }),
                ("docker CLI (run -d + rm -f)", async name =>
                {
                    var run = await commands.RunAsync(
                        new CommandRequest(
                            "docker", "run", "-d", "--name", name, "--user", "runner", "--security-opt", "label:disable",
                            "--label", $"{BenchLabel}={session}", "-e", "ACTIONS_RUNNER_INPUT_JITCONFIG", image, "/home/runner/run.sh")
                        {
                            Environment = new Dictionary<string, string?> { ["ACTIONS_RUNNER_INPUT_JITCONFIG"] = JitConfig },
                        },
                        cancellationToken);
                    await commands.RunAsync(new CommandRequest("docker", "rm", "-f", run.StandardOutput.Trim()), cancellationToken);
                }),
            };

            var samples = variants.Select(_ => new List<double>()).ToArray();
            var counter = 0;
            for (var round = -warmup; round < runners; round++)
            {
                // Rotate who goes first each round, so no variant always runs on a warm (or cold) engine.
                for (var k = 0; k < variants.Length; k++)
                {
                    var v = (k + Math.Abs(round)) % variants.Length;
                    var name = $"{session}-{v}-{counter++}";
                    var started = Stopwatch.GetTimestamp();
                    await variants[v].Run(name);
                    if (round >= 0)
                    {
                        samples[v].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    }
                }
            }

            Console.WriteLine($"## Docker: start+remove of one runner, {runners} runners per variant, interleaved ({Environment.ProcessorCount} cores)");
            Console.WriteLine();
            var p50 = samples.Select(s => Stats.Percentile(s, 50)).ToArray();
            var p95 = samples.Select(s => Stats.Percentile(s, 95)).ToArray();
            Console.Write(Stats.Table(
                ["variant", "p50 ms", "p95 ms", "mean ms", "library/variant p50", "library/variant p95"],
                variants.Select((v, i) => (IReadOnlyList<string>)
                [
                    v.Name, Stats.Ms(p50[i]), Stats.Ms(p95[i]), Stats.Ms(samples[i].Average()),
                    Stats.Ratio(p50[0] / p50[i]), Stats.Ratio(p95[0] / p95[i]),
                ])));
            Console.WriteLine();
            Console.WriteLine($"library/raw Docker.DotNet p50 {Stats.Ratio(p50[0] / p50[1])} (target <= 1.10: {(p50[0] / p50[1] <= 1.10 ? "met" : "MISSED")})");
            Console.WriteLine($"library/docker CLI      p50 {Stats.Ratio(p50[0] / p50[2])} (target < 1.0: {(p50[0] / p50[2] < 1.0 ? "met" : "MISSED")})");
            Console.WriteLine();

            var failures = await BurstAsync(backend, session, burst, concurrency, cancellationToken);
            return failures == 0 ? 0 : 1;
        }
        finally
        {
            await backend.ShutdownAsync(CancellationToken.None);
            await RemoveLeftoversAsync(raw, session);
        }
    }

    private static async Task<int> BurstAsync(DockerBackend backend, string session, int count, int concurrency, CancellationToken cancellationToken)
    {
        var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
        var failures = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = cancellationToken };
        var started = Stopwatch.GetTimestamp();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), parallel, async (i, ct) =>
        {
            try
            {
                ids.Add(await backend.StartRunnerAsync(string.Create(CultureInfo.InvariantCulture, $"{session}-burst-{i}"), JitConfig, ct));
            }
            catch (RunnerBackendException e)
            {
                Interlocked.Increment(ref failures);
                Console.Error.WriteLine($"start {i} failed: {e.Message}");
            }
        });
        var startElapsed = Stopwatch.GetElapsedTime(started);

        var removeStarted = Stopwatch.GetTimestamp();
        await Parallel.ForEachAsync(ids, parallel, async (id, ct) =>
        {
            try
            {
                await backend.RemoveRunnerAsync(id, ct);
            }
            catch (RunnerBackendException e)
            {
                Interlocked.Increment(ref failures);
                Console.Error.WriteLine($"remove {id[..12]} failed: {e.Message}");
            }
        });
        var removeElapsed = Stopwatch.GetElapsedTime(removeStarted);

        Console.WriteLine($"## Docker: burst of {count} runners, concurrency {concurrency}");
        Console.WriteLine();
        Console.Write(Stats.Table(
            ["phase", "runners", "failures", "seconds", "runners/s"],
            [
                ["start", ids.Count.ToString(CultureInfo.InvariantCulture), failures.ToString(CultureInfo.InvariantCulture),
                    Stats.Ratio(startElapsed.TotalSeconds), Stats.Ms(ids.Count / startElapsed.TotalSeconds)],
                ["remove", ids.Count.ToString(CultureInfo.InvariantCulture), "", Stats.Ratio(removeElapsed.TotalSeconds),
                    Stats.Ms(ids.Count / removeElapsed.TotalSeconds)],
                ["start+remove", ids.Count.ToString(CultureInfo.InvariantCulture), failures.ToString(CultureInfo.InvariantCulture),
                    Stats.Ratio((startElapsed + removeElapsed).TotalSeconds), Stats.Ms(ids.Count / (startElapsed + removeElapsed).TotalSeconds)],
            ]));
        return failures;
    }

    private static CreateContainerParameters RawParameters(string name, string image, string session) => new()
    {
        Name = name,
        Image = image,
        User = "runner",
        Cmd = ["/home/runner/run.sh"],
        Env = [$"ACTIONS_RUNNER_INPUT_JITCONFIG={JitConfig}"],
        Labels = new Dictionary<string, string> { [BenchLabel] = session },
        HostConfig = new HostConfig { SecurityOpt = ["label:disable"] },
    };

    private static async Task EnsureImageAsync(ProcessCommandRunner commands, string image, CancellationToken cancellationToken)
    {
        var script = FindScript();
        if (script is not null)
        {
            // The script is idempotent and quick when the image is already current.
            await commands.RunAsync(new CommandRequest("bash", script, image), cancellationToken);
            return;
        }

        var inspect = await commands.RunAsync(new CommandRequest("sh", "-c", "docker image inspect \"$1\" >/dev/null 2>&1 && echo yes || echo no", "sh", image), cancellationToken);
        if (inspect.StandardOutput.Trim() != "yes")
        {
            throw new InvalidOperationException($"Image {image} is missing and build-test-image.sh was not found; run it from the repository.");
        }
    }

    private static string? FindScript()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "RunnerBackends.IntegrationTests", "DockerImage", "build-test-image.sh");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static async Task RemoveLeftoversAsync(DockerClient raw, string session)
    {
        var containers = await raw.Containers.ListContainersAsync(new ContainersListParameters { All = true });
        foreach (var container in containers.Where(c => (c.Names ?? []).Any(n => n.Contains(session, StringComparison.Ordinal))))
        {
            try
            {
                await raw.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true });
            }
            catch (DockerApiException)
            {
                // Already gone.
            }
        }
    }
}
