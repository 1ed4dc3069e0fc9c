using System.Collections.Concurrent;
using RunnerBackends;

namespace RunnerHost.Tests.Support;

/// <summary>An in-memory IRunnerBackend: runners "run" until the test ends them or they are removed.</summary>
internal sealed class FakeRunnerBackend : IRunnerBackend
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<RunnerExit>> _running = new();
    private readonly Lock _lock = new();
    private int _next;
    private int _maxRunning;

    /// <summary>When set, every start throws this (after the name checks, as a real backend would).</summary>
    public Func<string, Exception?> StartFault { get; set; } = _ => null;

    public List<string> StartedNames { get; } = [];

    public List<string> JitConfigs { get; } = [];

    public int StartAttempts;

    public int Shutdowns;

    public IReadOnlyCollection<string> Running => [.. _running.Keys];

    public int MaxRunning
    {
        get
        {
            lock (_lock)
            {
                return _maxRunning;
            }
        }
    }

    public Task<string> StartRunnerAsync(string name, string jitConfig, CancellationToken cancellationToken = default)
    {
        RunnerName.ThrowIfInvalid(name);
        ArgumentException.ThrowIfNullOrEmpty(jitConfig);
        Interlocked.Increment(ref StartAttempts);
        if (StartFault(name) is { } fault)
        {
            return Task.FromException<string>(fault);
        }

        var id = $"fake-{Interlocked.Increment(ref _next)}-{name}";
        lock (_lock)
        {
            StartedNames.Add(name);
            JitConfigs.Add(jitConfig);
            _running[id] = new TaskCompletionSource<RunnerExit>(TaskCreationOptions.RunContinuationsAsynchronously);
            _maxRunning = Math.Max(_maxRunning, _running.Count);
        }

        return Task.FromResult(id);
    }

    /// <summary>Makes a runner's process end, as after its job.</summary>
    public void Exit(string resourceId, int code = 0)
    {
        if (_running.TryGetValue(resourceId, out var exit))
        {
            exit.TrySetResult(new RunnerExit(code));
        }
    }

    public string? ResourceOf(string name) => _running.Keys.FirstOrDefault(k => k.EndsWith("-" + name, StringComparison.Ordinal));

    public Task RemoveRunnerAsync(string resourceId, CancellationToken cancellationToken = default)
    {
        if (_running.TryRemove(resourceId, out var exit))
        {
            exit.TrySetResult(new RunnerExit(null));
        }

        return Task.CompletedTask;
    }

    public async Task<RunnerExit> WaitForExitAsync(string resourceId, CancellationToken cancellationToken = default) =>
        _running.TryGetValue(resourceId, out var exit) ? await exit.Task.WaitAsync(cancellationToken) : new RunnerExit(null);

    public async Task ShutdownAsync(CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Shutdowns);
        foreach (var id in _running.Keys)
        {
            await RemoveRunnerAsync(id, cancellationToken);
        }
    }

    public ValueTask DisposeAsync() => new(ShutdownAsync());
}
