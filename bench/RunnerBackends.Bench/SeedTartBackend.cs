using System.Text.Json.Nodes;

namespace RunnerBackends.Bench;

/// <summary>
/// The seed's Tart algorithm, reproduced for comparison in the same harness: readiness probes 1 s apart, doubling up to
/// 5 s, no per-probe timeout; the runner started with four <c>tart exec</c> calls and a fixed 2-second sleep (the JIT
/// config inside a command line, as the seed does). Only what the benchmark measures; not for production.
/// </summary>
internal sealed class SeedTartBackend(ICommandRunner commands, string tartPath, string tartHome, string baseImage, string runnerDirectory)
{
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan ReadinessBudget = TimeSpan.FromMinutes(2);
    private readonly Dictionary<string, (Task Run, CancellationTokenSource Cancel)> _runs = [];

    /// <summary>Clone, MAC, run in the background, probe until ready (the seed's bootVM).</summary>
    public async Task BootAsync(string vm, int slot, CancellationToken cancellationToken)
    {
        await TartAsync(cancellationToken, "clone", baseImage, vm);
        var config = Path.Combine(tartHome, "vms", vm, "config.json");
        var json = JsonNode.Parse(await File.ReadAllTextAsync(config, cancellationToken))!.AsObject();
        json["macAddress"] = $"02:00:00:00:00:{slot + 1:x2}";
        await File.WriteAllTextAsync(config, json.ToJsonString(), cancellationToken);
        var cancel = new CancellationTokenSource();
        var run = Observe(commands.RunAsync(Request("run", vm, "--no-graphics"), cancel.Token));
        _runs[vm] = (run, cancel);

        var backoff = FirstBackoff;
        var deadline = DateTime.UtcNow + ReadinessBudget;
        while (true)
        {
            try
            {
                await TartAsync(cancellationToken, "exec", vm, "true");
                return;
            }
            catch (CommandFailedException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(backoff, cancellationToken);
                backoff = backoff * 2 > MaxBackoff ? MaxBackoff : backoff * 2;
            }
        }
    }

    /// <summary>The seed's runner injection: four execs and a fixed 2-second sleep.</summary>
    public async Task InjectAsync(string vm, string jitConfig, CancellationToken cancellationToken)
    {
        await TartAsync(cancellationToken, "exec", vm, "test", "-x", $"{runnerDirectory}/run.sh");
        await TartAsync(cancellationToken, "exec", vm, "sh", "-c", $"cat > /tmp/jitconfig <<'JITEOF'\n{jitConfig}\nJITEOF");
        await TartAsync(cancellationToken, "exec", vm, "sh", "-c",
            $"ACTIONS_RUNNER_INPUT_JITCONFIG=$(cat /tmp/jitconfig) nohup {runnerDirectory}/run.sh > /tmp/runner.log 2>&1 &");
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        await TartAsync(cancellationToken, "exec", vm, "pgrep", "-f", "Runner.Listener");
    }

    public async Task RemoveAsync(string vm, CancellationToken cancellationToken)
    {
        try
        {
            await TartAsync(cancellationToken, "stop", vm);
        }
        catch (CommandFailedException)
        {
            // Not running.
        }

        if (_runs.Remove(vm, out var run))
        {
            await run.Run;
            run.Cancel.Dispose();
        }

        await TartAsync(cancellationToken, "delete", vm);
    }

    private static async Task Observe(Task task)
    {
        try
        {
            await task;
        }
        catch (Exception ex) when (ex is RunnerBackendException or OperationCanceledException)
        {
            // The VM stopped.
        }
    }

    private CommandRequest Request(params string[] arguments) =>
        new(tartPath, arguments) { Environment = new Dictionary<string, string?> { ["TART_HOME"] = tartHome } };

    private Task<CommandResult> TartAsync(CancellationToken cancellationToken, params string[] arguments) =>
        commands.RunAsync(Request(arguments), cancellationToken);
}
