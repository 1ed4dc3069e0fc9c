using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RunnerBackends;
using RunnerHost.GitHub;

namespace RunnerHost.Keeper;

/// <summary>
/// Keeps <see cref="KeeperOptions.MinIdle"/> ephemeral runners idle (registered on GitHub and not busy), so that the
/// runners held are busy + MinIdle, never more than <see cref="KeeperOptions.Max"/>. Each runner is registered just
/// in time, started on the backend, awaited until it exits after its job, removed, and replaced. On shutdown it stops
/// starting, removes every runner it holds and its registration, and shuts the backend down.
/// </summary>
public sealed partial class RunnerKeeper : BackgroundService
{
    private readonly IRunnerBackend _backend;
    private readonly GitHubClient _github;
    private readonly KeeperOptions _options;
    private readonly GitHubOptions _gitHubOptions;
    private readonly BackendHooks _hooks;
    private readonly WarmPoolGauge _pool;
    private readonly TimeProvider _time;
    private readonly ILogger<RunnerKeeper> _logger;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly Lock _lock = new();
    private readonly Dictionary<int, ManagedRunner> _runners = [];
    private readonly List<Task> _lifecycles = [];
    private readonly SemaphoreSlim _wake = new(0);
    private int _nextKey;
    private int _consecutiveFailures;
    private DateTimeOffset _nextStartAt = DateTimeOffset.MinValue;
    private int _maxHeld;
    private int _started;
    private int _completed;
    private ITimer? _runForTimer;

    /// <summary>Creates the keeper.</summary>
    /// <param name="backend">The runner backend.</param>
    /// <param name="github">The GitHub client.</param>
    /// <param name="options">How many runners.</param>
    /// <param name="gitHubOptions">Naming and polling.</param>
    /// <param name="hooks">Orphan cleanup and warm-pool start of the backend.</param>
    /// <param name="pool">The warm pool's size, from the library's telemetry.</param>
    /// <param name="time">The clock.</param>
    /// <param name="logger">Where runner events go.</param>
    /// <param name="lifetime">Used to stop the host after <see cref="KeeperOptions.RunFor"/> or a fatal error.</param>
    public RunnerKeeper(
        IRunnerBackend backend,
        GitHubClient github,
        IOptions<KeeperOptions> options,
        IOptions<GitHubOptions> gitHubOptions,
        BackendHooks hooks,
        WarmPoolGauge pool,
        TimeProvider time,
        ILogger<RunnerKeeper> logger,
        IHostApplicationLifetime lifetime)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(gitHubOptions);
        _backend = backend;
        _github = github;
        _options = options.Value;
        _gitHubOptions = gitHubOptions.Value;
        _hooks = hooks;
        _pool = pool;
        _time = time;
        _logger = logger;
        _lifetime = lifetime;
    }

    private enum Phase
    {
        Registering,
        Starting,
        Running,
        Removing,
    }

    /// <summary>The counts the status line shows, now.</summary>
    /// <returns>The snapshot.</returns>
    public KeeperStatus Status()
    {
        lock (_lock)
        {
            var running = _runners.Values.Where(r => r.Phase == Phase.Running).ToList();
            var busy = running.Count(r => r.Busy);
            return new KeeperStatus(
                Idle: running.Count - busy,
                Busy: busy,
                Starting: _runners.Values.Count(r => r.Phase is Phase.Registering or Phase.Starting),
                Removing: _runners.Values.Count(r => r.Phase == Phase.Removing),
                Pool: _pool.Size,
                MaxHeld: _maxHeld,
                Started: _started,
                Completed: _completed);
        }
    }

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // Stops the loop and every lifecycle (their waits and starts are cancelled), then cleans up what they held.
        await base.StopAsync(cancellationToken);
        Task[] lifecycles;
        lock (_lock)
        {
            lifecycles = [.. _lifecycles];
        }

        try
        {
            await Task.WhenAll(lifecycles).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }

        List<ManagedRunner> left;
        lock (_lock)
        {
            left = [.. _runners.Values];
        }

        LogStopping(_logger, left.Count);
        await Task.WhenAll(left.Select(r => CleanUpAsync(r, cancellationToken)));
        try
        {
            await _backend.ShutdownAsync(cancellationToken);
            LogStopped(_logger);
        }
        catch (Exception e) when (e is not OperationCanceledException || cancellationToken.IsCancellationRequested)
        {
            LogShutdownIncomplete(_logger, e.Message);
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _runForTimer?.Dispose();
        _wake.Dispose();
        base.Dispose();
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            if (_options.RunFor is { } runFor)
            {
                _runForTimer = _time.CreateTimer(_ => _lifetime.StopApplication(), null, runFor, Timeout.InfiniteTimeSpan);
            }

            await PrepareWithBackoffAsync(stoppingToken);
            var nextPoll = _time.GetUtcNow();
            var nextStatus = nextPoll;
            while (!stoppingToken.IsCancellationRequested)
            {
                var now = _time.GetUtcNow();
                if (now >= nextPoll)
                {
                    await PollBusyAsync(stoppingToken);
                    nextPoll = now + _gitHubOptions.PollInterval;
                }

                if (now >= nextStatus)
                {
                    var s = Status();
                    LogStatus(_logger, s.Idle, s.Busy, s.Starting, s.Pool, s.Idle + s.Busy + s.Starting + s.Removing, _options.Max, s.Completed);
                    nextStatus = now + _options.StatusInterval;
                }

                var blockedUntil = FillUp(now, stoppingToken);
                var wakeAt = new[] { nextPoll, nextStatus, blockedUntil ?? DateTimeOffset.MaxValue }.Min();
                await WaitAsync(wakeAt - now, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            LogFatal(_logger, e.Message);
            Environment.ExitCode = 1;
            _lifetime.StopApplication();
        }
    }

    private async Task PrepareWithBackoffAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                await PrepareAsync(cancellationToken);
                RecordSuccess();
                return;
            }
            catch (GitHubApiException e) when (e.Status is System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden or System.Net.HttpStatusCode.NotFound)
            {
                // Wrong token, permission or owner: waiting does not help.
                throw;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is not ArgumentException)
            {
                // The engine or GitHub may come up later (a host started at boot): back off instead of exiting.
                var delay = RecordFailure();
                LogPrepareFailed(_logger, e.Message, delay);
                await Task.Delay(delay, _time, cancellationToken);
            }
        }
    }

    private async Task PrepareAsync(CancellationToken cancellationToken)
    {
        var orphans = await _hooks.RemoveOrphansAsync(cancellationToken);
        if (orphans.Count > 0)
        {
            LogOrphans(_logger, orphans.Count, "runners (containers or VMs)");
        }

        // Registrations named with this host's prefix belong to a previous run whose runners are gone by now.
        var prefix = _gitHubOptions.EffectiveNamePrefix + "-";
        var leftovers = (await _github.ListRunnersAsync(cancellationToken)).Where(r => r.Name.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        var deleted = 0;
        foreach (var leftover in leftovers)
        {
            if (await _github.DeleteRunnerAsync(leftover.Id, cancellationToken) == DeleteOutcome.Deleted)
            {
                deleted++;
            }
        }

        if (deleted > 0)
        {
            LogOrphans(_logger, deleted, "GitHub registrations");
        }

        await _hooks.StartAsync(cancellationToken);
        LogKeeping(_logger, _options.MinIdle, _options.Max, _gitHubOptions.Target.ApiPath, _options.Backend);
    }

    private async Task PollBusyAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<GitHubRunner> listed;
        try
        {
            listed = await _github.ListRunnersAsync(cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or GitHubApiException or TimeoutException or Polly.Timeout.TimeoutRejectedException)
        {
            LogPollFailed(_logger, e.Message);
            return;
        }

        var byId = listed.ToDictionary(r => r.Id);
        var pickedUp = new List<ManagedRunner>();
        lock (_lock)
        {
            foreach (var runner in _runners.Values)
            {
                if (runner.GitHubId is { } id && byId.TryGetValue(id, out var seen))
                {
                    // A cold start may still be finishing when GitHub already hands the runner a job.
                    if (seen.Busy && !runner.RanJob)
                    {
                        pickedUp.Add(runner);
                    }

                    runner.Busy = seen.Busy;
                    runner.RanJob |= seen.Busy;
                }
                else if (runner.RanJob)
                {
                    // The ephemeral runner finished its job and deregistered; its process is about to exit.
                    runner.Busy = false;
                }
            }
        }

        foreach (var runner in pickedUp)
        {
            LogPickedUp(_logger, runner.Name);
        }
    }

    /// <summary>Starts the runners missing from the target; returns when starts are held back by the backoff.</summary>
    private DateTimeOffset? FillUp(DateTimeOffset now, CancellationToken stoppingToken)
    {
        lock (_lock)
        {
            var busy = _runners.Values.Count(r => r.Phase == Phase.Running && r.Busy);
            var counted = _runners.Values.Count(r => r.Phase != Phase.Removing);
            var target = Math.Min(_options.Max, busy + _options.MinIdle);
            var missing = Math.Min(target - counted, _options.Max - _runners.Count);
            if (missing <= 0)
            {
                return null;
            }

            if (now < _nextStartAt)
            {
                return _nextStartAt;
            }

            // While the backend keeps failing, probe with one start at a time.
            if (_consecutiveFailures > 0)
            {
                missing = Math.Min(missing, 1 - _runners.Values.Count(r => r.Phase is Phase.Registering or Phase.Starting));
            }

            for (var i = 0; i < missing; i++)
            {
                var runner = new ManagedRunner(++_nextKey, NewName());
                _runners.Add(runner.Key, runner);
                _maxHeld = Math.Max(_maxHeld, _runners.Count);
                _lifecycles.RemoveAll(t => t.IsCompleted);
                _lifecycles.Add(Task.Run(() => RunLifecycleAsync(runner, stoppingToken), CancellationToken.None));
            }

            return null;
        }
    }

    private async Task RunLifecycleAsync(ManagedRunner runner, CancellationToken stoppingToken)
    {
        var keep = false;
        try
        {
            JitRegistration registration;
            try
            {
                registration = await RegisterAsync(runner, stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogRegistrationFailed(_logger, runner.Name, e.Message, RecordFailure());
                return;
            }

            LogRegistered(_logger, runner.Name, registration.Runner.Id);
            SetPhase(runner, Phase.Starting);
            var startedAt = _time.GetTimestamp();
            try
            {
                runner.ResourceId = await _backend.StartRunnerAsync(runner.Name, registration.EncodedJitConfig, stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                var delay = RecordFailure();
                var outcome = await DeleteRegistrationAsync(runner, stoppingToken);
                LogStartFailed(_logger, runner.Name, e.Message, Describe(outcome), delay);
                return;
            }

            RecordSuccess();
            Interlocked.Increment(ref _started);
            SetPhase(runner, Phase.Running);
            LogStarted(_logger, runner.Name, Short(runner.ResourceId), (long)_time.GetElapsedTime(startedAt).TotalMilliseconds);

            var exit = await _backend.WaitForExitAsync(runner.ResourceId, stoppingToken);
            SetPhase(runner, Phase.Removing);
            if (runner.RanJob)
            {
                Interlocked.Increment(ref _completed);
                LogExitedAfterJob(_logger, runner.Name, exit.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown");
            }
            else
            {
                LogExitedWithoutJob(_logger, runner.Name, exit.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown");
                if (!exit.Succeeded)
                {
                    // A runner that dies without a job is a start that did not work: back off before the next.
                    RecordFailure();
                }
            }

            await CleanUpAsync(runner, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown: StopAsync removes what this runner still holds.
            keep = true;
        }
        catch (Exception e)
        {
            // Unexpected (the backend's wait or removal failed): leave it to shutdown or orphan cleanup, but free the slot.
            LogRunnerFailed(_logger, runner.Name, e.Message);
        }
        finally
        {
            if (!keep)
            {
                lock (_lock)
                {
                    _runners.Remove(runner.Key);
                }
            }

            _wake.Release();
        }
    }

    private async Task<JitRegistration> RegisterAsync(ManagedRunner runner, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var registration = await _github.GenerateJitConfigAsync(runner.Name, cancellationToken);
                runner.GitHubId = registration.Runner.Id;
                return registration;
            }
            catch (RunnerNameConflictException) when (attempt < 3)
            {
                // A registration under this name exists: a leftover, or our own request whose 201 was lost and
                // retried. Its JIT config is unknown, so it cannot be used: delete it (unless busy) and take a fresh name.
                var stale = await _github.FindRunnerAsync(runner.Name, cancellationToken);
                if (stale is { Busy: false })
                {
                    await _github.DeleteRunnerAsync(stale.Id, cancellationToken);
                }

                var fresh = NewName();
                LogNameConflict(_logger, runner.Name, fresh);
                runner.Name = fresh;
            }
        }
    }

    private async Task CleanUpAsync(ManagedRunner runner, CancellationToken cancellationToken)
    {
        try
        {
            if (runner.ResourceId is { } id)
            {
                await _backend.RemoveRunnerAsync(id, cancellationToken);
            }

            var outcome = await DeleteRegistrationAsync(runner, cancellationToken);
            LogRemoved(_logger, runner.Name, Describe(outcome));
        }
        catch (Exception e)
        {
            LogRemovalFailed(_logger, runner.Name, e.Message);
        }
    }

    private async Task<DeleteOutcome?> DeleteRegistrationAsync(ManagedRunner runner, CancellationToken cancellationToken)
    {
        if (runner.GitHubId is not { } id)
        {
            return null;
        }

        // 422 means GitHub still sees a job on it; that ends soon after the runner's process is gone.
        var delay = TimeSpan.FromSeconds(1);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var outcome = await _github.DeleteRunnerAsync(id, cancellationToken);
                if (outcome != DeleteOutcome.Busy || attempt == 6)
                {
                    return outcome;
                }
            }
            catch (Exception e) when (e is HttpRequestException or GitHubApiException or Polly.Timeout.TimeoutRejectedException)
            {
                LogDeleteFailed(_logger, runner.Name, id, e.Message);
                return null;
            }

            await Task.Delay(delay, _time, cancellationToken);
            delay *= 2;
        }
    }

    private TimeSpan RecordFailure()
    {
        lock (_lock)
        {
            _consecutiveFailures++;
            var factor = Math.Pow(2, Math.Min(_consecutiveFailures - 1, 16));
            var delay = TimeSpan.FromTicks((long)Math.Min(_options.StartBackoff.Ticks * factor, _options.MaxStartBackoff.Ticks));
            _nextStartAt = _time.GetUtcNow() + delay;
            return delay;
        }
    }

    private void RecordSuccess()
    {
        lock (_lock)
        {
            _consecutiveFailures = 0;
            _nextStartAt = DateTimeOffset.MinValue;
        }
    }

    private void SetPhase(ManagedRunner runner, Phase phase)
    {
        lock (_lock)
        {
            runner.Phase = phase;
        }

        _wake.Release();
    }

    private async Task WaitAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        if (delay <= TimeSpan.Zero)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(delay, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            await _wake.WaitAsync(linked.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
        }
    }

    private string NewName() => $"{_gitHubOptions.EffectiveNamePrefix}-{Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4))}";

    private static string Short(string id) => id.Length > 12 && id.All(char.IsAsciiHexDigitLower) ? id[..12] : id;

    private static string Describe(DeleteOutcome? outcome) => outcome switch
    {
        DeleteOutcome.Deleted => "registration deleted",
        DeleteOutcome.NotFound => "registration already gone",
        DeleteOutcome.Busy => "registration still busy on GitHub (it goes away after its job)",
        _ => "no registration",
    };

    [LoggerMessage(EventId = 4100, Level = LogLevel.Information, Message = "keeping {MinIdle} idle runner(s), at most {Max}, for {Target} on {Backend}")]
    private static partial void LogKeeping(ILogger logger, int minIdle, int max, string target, string backend);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Information, Message = "removed {Count} leftover {What} of a previous run")]
    private static partial void LogOrphans(ILogger logger, int count, string what);

    [LoggerMessage(EventId = 4102, Level = LogLevel.Information, Message = "{Name} registered on GitHub (runner id {Id})")]
    private static partial void LogRegistered(ILogger logger, string name, long id);

    [LoggerMessage(EventId = 4103, Level = LogLevel.Information, Message = "{Name} started ({ResourceId}) in {ElapsedMs} ms")]
    private static partial void LogStarted(ILogger logger, string name, string resourceId, long elapsedMs);

    [LoggerMessage(EventId = 4104, Level = LogLevel.Information, Message = "{Name} picked up a job (busy)")]
    private static partial void LogPickedUp(ILogger logger, string name);

    [LoggerMessage(EventId = 4105, Level = LogLevel.Information, Message = "{Name} finished its job and exited (code {ExitCode})")]
    private static partial void LogExitedAfterJob(ILogger logger, string name, string exitCode);

    [LoggerMessage(EventId = 4106, Level = LogLevel.Information, Message = "{Name} exited without running a job (code {ExitCode})")]
    private static partial void LogExitedWithoutJob(ILogger logger, string name, string exitCode);

    [LoggerMessage(EventId = 4107, Level = LogLevel.Information, Message = "{Name} removed; {Registration}")]
    private static partial void LogRemoved(ILogger logger, string name, string registration);

    [LoggerMessage(EventId = 4108, Level = LogLevel.Warning, Message = "{Name} failed to start: {Error}; {Registration}; next start in {Delay}")]
    private static partial void LogStartFailed(ILogger logger, string name, string error, string registration, TimeSpan delay);

    [LoggerMessage(EventId = 4109, Level = LogLevel.Warning, Message = "registering {Name} failed: {Error}; next attempt in {Delay}")]
    private static partial void LogRegistrationFailed(ILogger logger, string name, string error, TimeSpan delay);

    [LoggerMessage(EventId = 4110, Level = LogLevel.Warning, Message = "{Name} is already registered on GitHub; deleted the stale registration, retrying as {Fresh}")]
    private static partial void LogNameConflict(ILogger logger, string name, string fresh);

    [LoggerMessage(EventId = 4111, Level = LogLevel.Information, Message = "status: idle {Idle}, busy {Busy}, starting {Starting}, pool {Pool} | held {Held}/{Max}, jobs done {Completed}")]
    private static partial void LogStatus(ILogger logger, int idle, int busy, int starting, long pool, int held, int max, int completed);

    [LoggerMessage(EventId = 4112, Level = LogLevel.Warning, Message = "reading runners from GitHub failed: {Error}; keeping the last known state")]
    private static partial void LogPollFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 4113, Level = LogLevel.Warning, Message = "deleting the registration of {Name} (id {Id}) failed: {Error}")]
    private static partial void LogDeleteFailed(ILogger logger, string name, long id, string error);

    [LoggerMessage(EventId = 4114, Level = LogLevel.Warning, Message = "removing {Name} failed: {Error}; it is left to the orphan cleanup of the next start")]
    private static partial void LogRemovalFailed(ILogger logger, string name, string error);

    [LoggerMessage(EventId = 4115, Level = LogLevel.Warning, Message = "{Name} failed: {Error}")]
    private static partial void LogRunnerFailed(ILogger logger, string name, string error);

    [LoggerMessage(EventId = 4116, Level = LogLevel.Information, Message = "stopping: no new runners; removing {Count} runner(s) and their registrations")]
    private static partial void LogStopping(ILogger logger, int count);

    [LoggerMessage(EventId = 4117, Level = LogLevel.Information, Message = "stopped: every runner removed, backend shut down")]
    private static partial void LogStopped(ILogger logger);

    [LoggerMessage(EventId = 4118, Level = LogLevel.Warning, Message = "backend shutdown did not finish: {Error}; leftovers are removed at the next start")]
    private static partial void LogShutdownIncomplete(ILogger logger, string error);

    [LoggerMessage(EventId = 4120, Level = LogLevel.Warning, Message = "preparing the backend failed: {Error}; retrying in {Delay}")]
    private static partial void LogPrepareFailed(ILogger logger, string error, TimeSpan delay);

    [LoggerMessage(EventId = 4119, Level = LogLevel.Critical, Message = "the keeper cannot run: {Error}")]
    private static partial void LogFatal(ILogger logger, string error);

    private sealed class ManagedRunner(int key, string name)
    {
        public int Key { get; } = key;

        public string Name { get; set; } = name;

        public Phase Phase { get; set; } = Phase.Registering;

        public long? GitHubId { get; set; }

        public string? ResourceId { get; set; }

        public bool Busy { get; set; }

        public bool RanJob { get; set; }
    }
}

/// <summary>The keeper's counts.</summary>
/// <param name="Idle">Running and not busy.</param>
/// <param name="Busy">Running a job.</param>
/// <param name="Starting">Being registered or started.</param>
/// <param name="Removing">Exited, being removed.</param>
/// <param name="Pool">Warm VMs waiting (Tart).</param>
/// <param name="MaxHeld">The most runners held at once so far.</param>
/// <param name="Started">Runners started so far.</param>
/// <param name="Completed">Runners that ran a job and exited.</param>
public sealed record KeeperStatus(int Idle, int Busy, int Starting, int Removing, long Pool, int MaxHeld, int Started, int Completed);
