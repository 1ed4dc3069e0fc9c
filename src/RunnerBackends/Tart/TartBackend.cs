using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;
using Polly.Timeout;
using RunnerBackends.Tart.Internal;
using RunnerBackends.Telemetry;

namespace RunnerBackends.Tart;

/// <summary>
/// Runs each GitHub Actions runner in a fresh Tart macOS VM, driving the <c>tart</c> CLI through an
/// <see cref="ICommandRunner"/>: clone the base image, boot it, wait for its guest agent, start the runner, and stop and
/// delete the VM when the runner is removed. Optionally keeps a warm pool of booted VMs for near-instant starts.
/// </summary>
/// <remarks>
/// <para>
/// At most <see cref="TartBackendOptions.MaxRunners"/> VMs run at once (pooled and in use together): each holds a slot,
/// and the slot's index gives the VM a stable MAC address. Slots are released on every path: a failed or cancelled
/// start, a removal (also when <c>tart delete</c> fails), shutdown.
/// </para>
/// <para>
/// VM names: <c>&lt;VmNamePrefix&gt;-&lt;runner name&gt;</c> for a cold start (cut, with a hash of the runner name, when
/// longer than 64 characters) and <c>&lt;VmNamePrefix&gt;-pool-&lt;instance id&gt;-&lt;counter&gt;</c> for pooled VMs, where the
/// instance id is random per backend. A cold start refuses a name that this backend already uses or that exists in
/// tart's VM directory, because <c>tart clone</c> silently replaces an existing VM.
/// </para>
/// <para>
/// The JIT configuration reaches the guest only through the standard input of one <c>tart exec -i</c>; it is never in a
/// process argument, a log line or an exception message. Safe for concurrent use.
/// </para>
/// </remarks>
public sealed class TartBackend : IRunnerBackend
{
    private static readonly ResiliencePropertyKey<ProbeState> ProbeKey = new("runnerbackends.tart.probe");

    // How often `tart run` is tried when it fails with Apple's VM limit.
    private const int SystemLimitRetries = 3;

    // Slack over RunnerStartTimeout for the one exec that starts the runner: the guest enforces the budget itself.
    private static readonly TimeSpan InjectionSlack = TimeSpan.FromSeconds(15);

    private readonly TartBackendOptions _options;

    // Probe spacing inside the window where the learned boot time says the agent is about to answer.
    private TimeSpan DenseProbeInterval => _options.ProbeInitialDelay / 2;
    private readonly ILogger _logger;
    private readonly ICommandRunner _commands;
    private readonly TimeProvider _time;
    private readonly VmSlots _slots;

    // Cold starts beside a running warm pool may hold at most MaxRunners - PoolSize slots; the rest are the pool's.
    private readonly SemaphoreSlim _coldSlots;
    private readonly BootClock _bootClock = new();
    private readonly ResiliencePipeline<bool> _readiness;
    private readonly ResiliencePipeline _refill;
    private readonly string _vmsDirectory;
    private readonly string _instanceId = VmNames.NewInstanceId();
    private readonly ConcurrentDictionary<string, TartVm> _vms = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _leftovers = new(StringComparer.Ordinal);
    private readonly Channel<TartVm> _ready = Channel.CreateUnbounded<TartVm>();
    private readonly CancellationTokenSource _lifetime = new();
    private readonly Lock _gate = new();
    private readonly HashSet<TaskCompletionSource> _operations = [];
    private List<Task>? _poolLoops;
    private Task? _shutdown;
    private long _poolCounter;

    /// <summary>Initializes a new instance of the <see cref="TartBackend"/> class. Runs nothing yet.</summary>
    /// <param name="options">The settings; copied, so later changes have no effect.</param>
    /// <param name="logger">Receives the backend's events; never a JIT configuration.</param>
    /// <param name="commandRunner">Runs <c>tart</c>; a <see cref="ProcessCommandRunner"/> when <see langword="null"/>.</param>
    /// <param name="timeProvider">Drives every delay and timeout; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The options are not valid; the message lists every problem.</exception>
    public TartBackend(
        TartBackendOptions options,
        ILogger<TartBackend>? logger = null,
        ICommandRunner? commandRunner = null,
        TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException(
                "The Tart backend's options are not valid:" + string.Concat(problems.Select(p => "\n- " + p)),
                nameof(options));
        }

        _options = options.Clone();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _commands = commandRunner ?? new ProcessCommandRunner(timeProvider: _time);
        _slots = new VmSlots(_options.MaxRunners);
        _coldSlots = new SemaphoreSlim(_options.MaxRunners - _options.PoolSize);
        _vmsDirectory = Path.Combine(ResolveTartHome(_options.TartHome), "vms");
        _readiness = BuildReadinessPipeline();
        _refill = BuildRefillPipeline();
    }

    /// <summary>Gets how many VM slots are taken (booting, pooled or running a runner). For tests and diagnostics.</summary>
    internal int SlotsInUse => _slots.InUse;

    /// <summary>Gets the boot time learned so far (see <see cref="BootClock"/>).</summary>
    internal TimeSpan? ExpectedBootTime => _bootClock.Expected;

    /// <summary>
    /// Makes sure the base image is available locally: looks for an exact name in <c>tart list --format json</c> and,
    /// when absent, runs <c>tart pull</c>, reporting each output line to <paramref name="progress"/> and the logger.
    /// </summary>
    /// <param name="progress">Receives the pull's output lines; may be <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the check or the pull.</param>
    /// <exception cref="RunnerBackendException">tart is missing (the message names TartPath), or the list or the pull failed
    /// (the message carries tart's error).</exception>
    public async Task EnsureImageAsync(IProgress<string>? progress = null, CancellationToken cancellationToken = default)
    {
        var entries = await ListAsync(cancellationToken).ConfigureAwait(false);
        if (entries.Any(e => string.Equals(e.Name, _options.BaseImage, StringComparison.Ordinal)))
        {
            Log.ImagePresent(_logger, _options.BaseImage);
            return;
        }

        Log.ImagePulling(_logger, _options.BaseImage);
        var sink = new LineSink(line =>
        {
            Log.PullProgress(_logger, line);
            progress?.Report(line);
        });
        try
        {
            await _commands.RunStreamingAsync(TartCli.Request(_options, ["pull", _options.BaseImage]), sink, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (CommandNotFoundException ex)
        {
            throw TartCli.NotFound(_options, ex);
        }
        catch (CommandFailedException ex)
        {
            throw new RunnerBackendException(
                $"Could not pull the Tart image '{_options.BaseImage}': {TartCli.Error(ex)}. Check the image reference, the network and the registry credentials (TART_REGISTRY_USERNAME/TART_REGISTRY_PASSWORD).",
                ex);
        }
    }

    /// <summary>
    /// Starts the warm pool: <see cref="TartBackendOptions.PoolSize"/> background loops that each keep one VM booted and
    /// ready, replace it when it is taken or stops, and retry failed boots with capped exponential backoff until
    /// shutdown. Does nothing when PoolSize is 0 or the pool already runs.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The backend has been shut down.</exception>
    public void StartPool()
    {
        lock (_gate)
        {
            ThrowIfShutDown();
            if (_options.PoolSize == 0 || _poolLoops is not null)
            {
                return;
            }

            var token = _lifetime.Token;
            _poolLoops = [.. Enumerable.Range(0, _options.PoolSize).Select(_ => Task.Run(() => PoolLoopAsync(token), CancellationToken.None))];
        }

        Log.PoolStarted(_logger, _options.PoolSize);
    }

    /// <summary>
    /// Stops and deletes the VMs whose names start with <see cref="TartBackendOptions.VmNamePrefix"/> followed by
    /// <c>-</c> and that this instance does not hold: leftovers of an earlier process. Call it at start-up, before
    /// <see cref="StartPool"/>. A VM that cannot be removed is logged and skipped.
    /// </summary>
    /// <param name="cancellationToken">Cancels the sweep.</param>
    /// <returns>The names of the VMs removed.</returns>
    /// <exception cref="RunnerBackendException"><c>tart list</c> failed or tart is missing.</exception>
    public async Task<IReadOnlyList<string>> RemoveOrphansAsync(CancellationToken cancellationToken = default)
    {
        var entries = await ListAsync(cancellationToken).ConfigureAwait(false);
        var removed = new List<string>();
        foreach (var entry in entries)
        {
            if (!entry.IsLocal
                || !VmNames.HasPrefix(entry.Name, _options.VmNamePrefix)
                || _vms.ContainsKey(entry.Name)
                || string.Equals(entry.Name, _options.BaseImage, StringComparison.Ordinal))
            {
                continue;
            }

            try
            {
                await StopAndDeleteByNameAsync(entry.Name, cancellationToken).ConfigureAwait(false);
                _leftovers.TryRemove(entry.Name, out _);
                removed.Add(entry.Name);
                Log.OrphanRemoved(_logger, entry.Name);
            }
            catch (RunnerBackendException ex)
            {
                Log.OrphanNotRemoved(_logger, ex, entry.Name);
            }
        }

        return removed;
    }

    /// <inheritdoc />
    /// <remarks>
    /// With a running warm pool, takes a ready pooled VM (then only the runner is started in it), or waits for one when
    /// the pool holds every slot; a slot the pool does not hold is used for a cold start. Without a pool: a cold start
    /// (clone, configure, boot, wait for the guest agent, start the runner). The returned resource id is the VM's name.
    /// </remarks>
    /// <exception cref="RunnerNotReadyException">The VM did not become ready within ReadinessTimeout, or stopped while
    /// booting; it was removed.</exception>
    /// <exception cref="ObjectDisposedException">The backend has been shut down.</exception>
    public async Task<string> StartRunnerAsync(string name, string jitConfig, CancellationToken cancellationToken = default)
    {
        RunnerName.ThrowIfInvalid(name);
        if (string.IsNullOrWhiteSpace(jitConfig))
        {
            throw new ArgumentException("The JIT configuration is empty: pass the encoded JIT config GitHub returned for this runner.", nameof(jitConfig));
        }

        cancellationToken.ThrowIfCancellationRequested();
        var operation = BeginOperation();
        try
        {
            return await StartCoreAsync(name, jitConfig, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            EndOperation(operation);
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// <c>tart stop</c> (a VM that is not running is fine), then <c>tart delete</c> (a missing VM is success). The slot is
    /// released as soon as the VM has stopped, also when the delete then fails. A removal runs to its end even when
    /// <paramref name="cancellationToken"/> stops the wait for it. An id this backend does not know is removed by name
    /// only when it carries VmNamePrefix; other names are left alone.
    /// </remarks>
    /// <exception cref="RunnerBackendException"><c>tart delete</c> failed (the message carries tart's error); the slot is
    /// released and the VM is left on disk for <see cref="RemoveOrphansAsync"/>.</exception>
    public async Task RemoveRunnerAsync(string resourceId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(resourceId);
        if (_vms.TryGetValue(resourceId, out var vm))
        {
            await RemoveVmAsync(vm).WaitAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        if (!VmNames.HasPrefix(resourceId, _options.VmNamePrefix) || !RunnerName.IsValid(resourceId))
        {
            Log.RemoveIgnored(_logger, resourceId, _options.VmNamePrefix);
            return;
        }

        await StopAndDeleteByNameAsync(resourceId, cancellationToken).ConfigureAwait(false);
        _leftovers.TryRemove(resourceId, out _);
    }

    /// <inheritdoc />
    /// <remarks>
    /// One long <c>tart exec</c> waits in the guest (polling every ExitPollInterval there) until run.sh has returned,
    /// and reports its exit code; it also ends when neither run.sh nor Runner.Listener is left. The wait also ends, with
    /// an unknown exit code, when the VM stops or does not exist. A failed exec is retried after ExitPollInterval.
    /// </remarks>
    public async Task<RunnerExit> WaitForExitAsync(string resourceId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(resourceId);
        Task? vmStopped = _vms.TryGetValue(resourceId, out var vm) && vm.RunStarted ? vm.RunExited : null;
        string[] arguments = ["exec", resourceId, "sh", "-c", GuestScripts.WaitForExit, "sh", GuestScripts.Seconds(_options.ExitPollInterval)];
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (vmStopped is { IsCompleted: true })
            {
                return new RunnerExit(null);
            }

            using var waitCancellation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var exec = TartAsync(arguments, waitCancellation.Token);
            if (vmStopped is not null && await Task.WhenAny(exec, vmStopped).ConfigureAwait(false) != exec)
            {
                await waitCancellation.CancelAsync().ConfigureAwait(false);
                await Observe(exec).ConfigureAwait(false);
                return new RunnerExit(null);
            }

            try
            {
                var result = await exec.ConfigureAwait(false);
                return int.TryParse(result.StandardOutput.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var code)
                    ? new RunnerExit(code)
                    : new RunnerExit(null);
            }
            catch (CommandFailedException ex) when (TartCli.IsGoneOrStopped(ex))
            {
                return new RunnerExit(null);
            }
            catch (CommandFailedException ex)
            {
                Log.ExitWaitRetry(_logger, resourceId, TartCli.Error(ex));
            }

            await Task.Delay(_options.ExitPollInterval, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// Cancels in-flight starts and warm-pool boots (each removes its own VM), stops the pool, then removes every VM this
    /// instance still holds: idle pooled VMs and runners alike; every slot is released. Later starts throw
    /// <see cref="ObjectDisposedException"/>. Safe to call more than once and concurrently: later calls await the first.
    /// </remarks>
    public Task ShutdownAsync(CancellationToken cancellationToken = default)
    {
        Task shutdown;
        lock (_gate)
        {
            shutdown = _shutdown ??= Task.Run(ShutdownCoreAsync, CancellationToken.None);
        }

        return shutdown.WaitAsync(cancellationToken);
    }

    /// <summary>Shuts the backend down (see <see cref="ShutdownAsync"/>). Safe to call more than once.</summary>
    /// <returns>A task that completes when everything this instance held is removed.</returns>
    public async ValueTask DisposeAsync()
    {
        await ShutdownAsync().ConfigureAwait(false);
    }

    private static string ResolveTartHome(string? configured)
    {
        if (!string.IsNullOrEmpty(configured))
        {
            return configured;
        }

        var fromEnvironment = Environment.GetEnvironmentVariable("TART_HOME");
        return !string.IsNullOrEmpty(fromEnvironment)
            ? fromEnvironment
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".tart");
    }

    private static bool IsSystemLimit(string? runError) =>
        runError is not null && runError.Contains("exceeds the system limit", StringComparison.OrdinalIgnoreCase);

    private static async Task Observe(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or RunnerBackendException)
        {
            // Its outcome no longer matters; awaiting it keeps it from going unobserved.
        }
    }

    private async Task<string> StartCoreAsync(string name, string jitConfig, CancellationToken cancellationToken)
    {
        using var activity = RunnerBackendsTelemetry.StartActivity("tart.start_runner", RunnerBackendsTelemetry.Tart, name);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        var token = linked.Token;
        var started = _time.GetTimestamp();
        var kind = RunnerBackendsTelemetry.Cold;
        TartVm? vm = null;
        try
        {
            if (PoolRunning)
            {
                var (pooled, slot) = await TakePooledOrSlotAsync(token).ConfigureAwait(false);
                if (pooled is not null)
                {
                    vm = pooled;
                    kind = RunnerBackendsTelemetry.Warm;
                }
                else
                {
                    vm = await BootAsync(VmNames.ForRunner(_options.VmNamePrefix, name), pooled: false, slot, token, coldSlot: true).ConfigureAwait(false);
                }
            }
            else
            {
                vm = await BootAsync(VmNames.ForRunner(_options.VmNamePrefix, name), pooled: false, slot: null, token).ConfigureAwait(false);
            }

            vm.TryMove(VmState.Booting, VmState.InUse);
            await InjectAsync(vm, jitConfig, token).ConfigureAwait(false);
            vm.CountedAsRunning = true;
            var elapsed = _time.GetElapsedTime(started);
            RunnerBackendsTelemetry.RecordStarted(RunnerBackendsTelemetry.Tart, kind, elapsed);
            Log.RunnerStarted(_logger, name, vm.Name, kind, (long)elapsed.TotalMilliseconds);
            return vm.Name;
        }
        catch (Exception ex)
        {
            RunnerBackendsTelemetry.RecordStartFailed(RunnerBackendsTelemetry.Tart, kind, _time.GetElapsedTime(started), ex, activity);
            Log.StartFailed(_logger, ex, name, vm?.Name);
            if (vm is not null)
            {
                await RemoveQuietlyAsync(vm).ConfigureAwait(false);
            }

            if (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested && _lifetime.IsCancellationRequested)
            {
                throw new RunnerBackendException($"The Tart backend was shut down while runner '{name}' was starting; its VM was removed.", ex);
            }

            throw;
        }
    }

    /// <summary>
    /// Takes a ready pooled VM, or a slot for a cold start, whichever comes first (a VM when both). Cold starts next to
    /// a running pool only use the slots the pool does not hold (MaxRunners - PoolSize), so with PoolSize = MaxRunners
    /// every start waits for a pooled VM.
    /// </summary>
    private async Task<(TartVm? Vm, int Slot)> TakePooledOrSlotAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryTakePooled() is { } ready)
            {
                return (ready, -1);
            }

            using var race = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var vmWait = _ready.Reader.WaitToReadAsync(race.Token).AsTask();
            var slotWait = AcquireColdSlotAsync(race.Token);
            await Task.WhenAny(vmWait, slotWait).ConfigureAwait(false);
            await race.CancelAsync().ConfigureAwait(false);
            await Observe(vmWait).ConfigureAwait(false);
            int? slot = null;
            try
            {
                slot = await slotWait.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Lost the race (or the caller cancelled: checked below).
            }

            if (slot is { } acquired)
            {
                if (TryTakePooled() is { } both)
                {
                    ReleaseSlot(acquired, cold: true);
                    return (both, -1);
                }

                return (null, acquired);
            }

            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private async Task<int> AcquireColdSlotAsync(CancellationToken cancellationToken)
    {
        await _coldSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await _slots.AcquireAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _coldSlots.Release();
            throw;
        }
    }

    private void ReleaseSlot(int slot, bool cold)
    {
        _slots.Release(slot);
        if (cold)
        {
            _coldSlots.Release();
        }
    }

    private TartVm? TryTakePooled()
    {
        while (_ready.Reader.TryRead(out var vm))
        {
            if (!vm.TryMove(VmState.Idle, VmState.InUse))
            {
                continue;
            }

            RunnerBackendsTelemetry.RecordPoolSizeChange(-1);
            if (!vm.RunExited.IsCompleted)
            {
                return vm;
            }

            Log.PoolVmStopped(_logger, vm.Name);
            _ = RemoveQuietlyAsync(vm);
        }

        return null;
    }

    /// <summary>
    /// Clones, configures and boots a VM and waits until its guest agent answers. On any failure (cancellation included)
    /// the VM is removed and its slot released before the exception propagates.
    /// </summary>
    private async Task<TartVm> BootAsync(string name, bool pooled, int? slot, CancellationToken cancellationToken, bool coldSlot = false)
    {
        var vm = new TartVm(name, pooled, s => ReleaseSlot(s, coldSlot));
        if (!_vms.TryAdd(name, vm))
        {
            if (slot is { } taken)
            {
                ReleaseSlot(taken, coldSlot);
            }

            throw new RunnerBackendException($"A runner using Tart VM '{name}' is already running on this backend: runner names must be unique.");
        }

        try
        {
            if (Directory.Exists(Path.Combine(_vmsDirectory, name)))
            {
                // tart clone would silently replace it, and it may belong to a runner of another process.
                throw new RunnerBackendException(
                    $"A Tart VM named '{name}' already exists. Runner names must be unique; remove leftovers with RemoveOrphansAsync or 'tart delete {name}'.");
            }
        }
        catch
        {
            _vms.TryRemove(name, out _);
            if (slot is { } taken)
            {
                ReleaseSlot(taken, coldSlot);
            }

            throw;
        }

        try
        {
            vm.AssignSlot(slot ?? await _slots.AcquireAsync(cancellationToken).ConfigureAwait(false));
            Log.Cloning(_logger, _options.BaseImage, name, vm.Slot);
            vm.MayExistOnDisk = true;
            await TartAsync(["clone", _options.BaseImage, name], cancellationToken).ConfigureAwait(false);
            if (_options.Cpu > 0 || _options.MemoryMB > 0)
            {
                var set = new List<string> { "set", name };
                if (_options.Cpu > 0)
                {
                    set.AddRange(["--cpu", _options.Cpu.ToString(CultureInfo.InvariantCulture)]);
                }

                if (_options.MemoryMB > 0)
                {
                    set.AddRange(["--memory", _options.MemoryMB.ToString(CultureInfo.InvariantCulture)]);
                }

                await TartAsync(set, cancellationToken).ConfigureAwait(false);
            }

            if (_options.AssignStableMacAddresses)
            {
                await WriteMacAddressAsync(vm, cancellationToken).ConfigureAwait(false);
            }

            for (var attempt = 1; ; attempt++)
            {
                StartRun(vm);
                try
                {
                    await WaitUntilReadyAsync(vm, cancellationToken).ConfigureAwait(false);
                    return vm;
                }
                catch (RunnerNotReadyException) when (attempt < SystemLimitRetries && vm.RunExited.IsCompleted && IsSystemLimit(vm.RunError))
                {
                    // Apple's limit can still count VMs that stopped a moment ago: this backend counts its own VMs,
                    // so the limit is transient here (or held by VMs of others, which the last attempt reports).
                    Log.SystemLimitRetry(_logger, vm.Name, attempt);
                    await Task.Delay(TimeSpan.FromMilliseconds(500 * attempt), _time, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex)
        {
            if (ex.InnerException is CommandNotFoundException && !vm.RunStarted)
            {
                // tart could not even be started: nothing exists to remove.
                vm.MayExistOnDisk = false;
            }

            await RemoveQuietlyAsync(vm).ConfigureAwait(false);
            throw;
        }
    }

    private async Task WriteMacAddressAsync(TartVm vm, CancellationToken cancellationToken)
    {
        var path = Path.Combine(_vmsDirectory, vm.Name, "config.json");
        try
        {
            var config = JsonNode.Parse(await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)) as JsonObject
                ?? throw new JsonException("config.json does not hold a JSON object.");
            config["macAddress"] = VmSlots.MacAddress(vm.Slot);
            var temporary = path + ".runnerbackends.tmp";
            await File.WriteAllTextAsync(temporary, config.ToJsonString(), cancellationToken).ConfigureAwait(false);
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            Log.MacAddressNotSet(_logger, ex, vm.Name, path);
        }
    }

    /// <summary>Starts <c>tart run</c> as a long-lived child whose completion (any exit) means the VM stopped.</summary>
    private void StartRun(TartVm vm)
    {
        vm.RunError = null;
        vm.RunStartedTimestamp = _time.GetTimestamp();
        vm.RunStarted = true;
        vm.RunExited = RunAsync(vm);

        async Task RunAsync(TartVm target)
        {
            try
            {
                await _commands.RunAsync(TartCli.Request(_options, ["run", target.Name, "--no-graphics"]), target.RunCancellation.Token)
                    .ConfigureAwait(false);
                Log.RunExited(_logger, target.Name, "exit code 0");
            }
            catch (CommandFailedException ex)
            {
                target.RunError = TartCli.Error(ex);
                Log.RunExited(_logger, target.Name, $"exit code {ex.ExitCode}: {target.RunError}");
            }
            catch (OperationCanceledException)
            {
                Log.RunExited(_logger, target.Name, "killed");
            }
            catch (Exception ex)
            {
                target.RunError = ex.Message;
                Log.RunExited(_logger, target.Name, ex.Message);
            }
        }
    }

    private async Task WaitUntilReadyAsync(TartVm vm, CancellationToken cancellationToken)
    {
        var state = new ProbeState(vm) { Backend = this };
        using var probing = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var context = ResilienceContextPool.Shared.Get(probing.Token);
        context.Properties.Set(ProbeKey, state);
        try
        {
            var ready = _readiness.ExecuteAsync(static (ctx, s) => s.Backend.ProbeAsync(s, ctx.CancellationToken), context, state).AsTask();
            if (await Task.WhenAny(ready, vm.RunExited).ConfigureAwait(false) != ready)
            {
                // `tart run` exited: the VM stopped, no probe can succeed.
                await probing.CancelAsync().ConfigureAwait(false);
                await ObserveProbing(ready).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                throw new RunnerNotReadyException(
                    $"Tart VM '{vm.Name}' stopped while booting (tart run exited{(vm.RunError is null ? "" : ": " + vm.RunError)}). Check the image, the host's free disk and memory, and that no other VMs take Apple's limit of 2 running macOS VMs.");
            }

            if (!await ready.ConfigureAwait(false))
            {
                throw NotReady(vm, state, null);
            }

            var elapsed = _time.GetElapsedTime(vm.RunStartedTimestamp);
            _bootClock.Observe(state.LastFailedAt ?? TimeSpan.Zero, state.SucceededAt ?? elapsed);
            Log.VmReady(_logger, vm.Name, (long)elapsed.TotalMilliseconds, state.Attempts);
        }
        catch (TimeoutRejectedException ex)
        {
            throw NotReady(vm, state, ex);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private static async Task ObserveProbing(Task<bool> probing)
    {
        try
        {
            await probing.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or RunnerBackendException or TimeoutRejectedException)
        {
            // The VM stopped; why the probe ended no longer matters.
        }
    }

    private RunnerNotReadyException NotReady(TartVm vm, ProbeState state, Exception? inner) =>
        new(
            $"Tart VM '{vm.Name}' was not ready within {_options.ReadinessTimeout.TotalSeconds:0.###} s ({state.Attempts} probes of 'tart exec {vm.Name} true'). "
            + "Check that the image runs the Tart Guest Agent (tart exec needs it) and that ReadinessTimeout covers the image's boot time."
            + (state.LastError is null ? "" : $" Last error from tart: {state.LastError}"),
            inner);

    private async ValueTask<bool> ProbeAsync(ProbeState state, CancellationToken cancellationToken)
    {
        var startedAt = _time.GetElapsedTime(state.Vm.RunStartedTimestamp);
        state.Attempts++;
        try
        {
            await TartAsync(["exec", state.Vm.Name, "true"], cancellationToken).ConfigureAwait(false);
        }
        catch (CommandFailedException ex)
        {
            state.LastError = TartCli.Error(ex);
            state.LastFailedAt = startedAt;
            RunnerBackendsTelemetry.RecordReadinessProbe(ready: false);
            Log.ProbeFailed(_logger, state.Vm.Name, state.Attempts, state.LastError);
            return false;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            state.LastError = $"tart exec did not answer within {_options.ProbeAttemptTimeout.TotalSeconds:0.###} s (ProbeAttemptTimeout)";
            state.LastFailedAt = startedAt;
            RunnerBackendsTelemetry.RecordReadinessProbe(ready: false);
            throw;
        }

        state.SucceededAt = startedAt;
        RunnerBackendsTelemetry.RecordReadinessProbe(ready: true);
        return true;
    }

    /// <summary>Starts the runner with one <c>tart exec -i</c>, the JIT config on its standard input (see <see cref="GuestScripts.StartRunner"/>).</summary>
    private async Task InjectAsync(TartVm vm, string jitConfig, CancellationToken cancellationToken)
    {
        using var budget = new CancellationTokenSource(_options.RunnerStartTimeout + InjectionSlack, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, budget.Token);
        try
        {
            await TartCli.RunAsync(
                _commands,
                _options,
                ["exec", "-i", vm.Name, "sh", "-c", GuestScripts.StartRunner, "sh", _options.RunnerDirectory, GuestScripts.WholeSeconds(_options.RunnerStartTimeout)],
                jitConfig + "\n",
                linked.Token).ConfigureAwait(false);
        }
        catch (CommandFailedException ex)
        {
            throw new RunnerBackendException($"The runner did not start in Tart VM '{vm.Name}': {TartCli.Error(ex)}", ex);
        }
        catch (OperationCanceledException ex) when (budget.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new RunnerBackendException(
                $"Starting the runner in Tart VM '{vm.Name}' did not finish within {(_options.RunnerStartTimeout + InjectionSlack).TotalSeconds:0} s: tart exec stopped answering.",
                ex);
        }
    }

    private Task RemoveVmAsync(TartVm vm)
    {
        lock (vm.Gate)
        {
            return vm.Removal ??= RemoveVmCoreAsync(vm);
        }
    }

    private async Task RemoveQuietlyAsync(TartVm vm)
    {
        try
        {
            await RemoveVmAsync(vm).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RunnerBackendException or OperationCanceledException)
        {
            // Logged by the removal; the slot is released and the VM is listed as a leftover.
        }
    }

    private async Task RemoveVmCoreAsync(TartVm vm)
    {
        await Task.Yield();
        vm.MoveTo(VmState.Removing);
        using var budget = new CancellationTokenSource(TartDefaults.RemovalTimeout, _time);
        var token = budget.Token;
        try
        {
            if (vm.RunStarted && !vm.RunExited.IsCompleted)
            {
                try
                {
                    await TartAsync(["stop", vm.Name], token).ConfigureAwait(false);
                }
                catch (CommandFailedException ex) when (TartCli.IsGoneOrStopped(ex))
                {
                    // Already stopped.
                }
                catch (Exception ex) when (ex is CommandFailedException or RunnerBackendException or OperationCanceledException)
                {
                    Log.StopFailed(_logger, vm.Name, ex.Message);
                }

                await Task.WhenAny(vm.RunExited, Task.Delay(TartDefaults.RunExitGrace, _time, token)).ConfigureAwait(false);
            }
        }
        finally
        {
            if (vm.RunStarted && !vm.RunExited.IsCompleted)
            {
                // tart run outlived tart stop: killing it powers the VM off.
                await vm.RunCancellation.CancelAsync().ConfigureAwait(false);
                await vm.RunExited.ConfigureAwait(false);
            }

            vm.ReleaseSlot();
        }

        try
        {
            if (vm.MayExistOnDisk || vm.RunStarted)
            {
                await TartAsync(["delete", vm.Name], token).ConfigureAwait(false);
            }
        }
        catch (CommandFailedException ex) when (TartCli.IsGoneOrStopped(ex) && !ex.StandardError.Contains("is running", StringComparison.Ordinal))
        {
            // Never created, or already deleted.
        }
        catch (Exception ex) when (ex is RunnerBackendException or OperationCanceledException)
        {
            var error = ex is CommandFailedException failed ? TartCli.Error(failed) : ex.Message;
            Forget(vm);
            _leftovers[vm.Name] = 0;
            Log.DeleteFailed(_logger, vm.Name, error);
            throw new RunnerBackendException(
                $"Could not delete Tart VM '{vm.Name}': {error}. Its slot was released; the VM stays on disk until RemoveOrphansAsync or 'tart delete {vm.Name}' removes it.",
                ex);
        }

        Forget(vm);
        Log.VmRemoved(_logger, vm.Name);
    }

    private void Forget(TartVm vm)
    {
        _vms.TryRemove(new KeyValuePair<string, TartVm>(vm.Name, vm));
        if (vm.CountedAsRunning)
        {
            vm.CountedAsRunning = false;
            RunnerBackendsTelemetry.RecordRemoved(RunnerBackendsTelemetry.Tart);
        }
    }

    private async Task StopAndDeleteByNameAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            await TartAsync(["stop", name], cancellationToken).ConfigureAwait(false);
        }
        catch (CommandFailedException ex) when (TartCli.IsGoneOrStopped(ex))
        {
            // Not running, or already gone.
        }
        catch (CommandFailedException ex)
        {
            Log.StopFailed(_logger, name, TartCli.Error(ex));
        }

        try
        {
            await TartAsync(["delete", name], cancellationToken).ConfigureAwait(false);
        }
        catch (CommandFailedException ex) when (TartCli.IsGoneOrStopped(ex) && !ex.StandardError.Contains("is running", StringComparison.Ordinal))
        {
            // Already gone.
        }
        catch (CommandFailedException ex)
        {
            throw new RunnerBackendException($"Could not delete Tart VM '{name}': {TartCli.Error(ex)}", ex);
        }

        Log.VmRemoved(_logger, name);
    }

    private async Task PoolLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var vm = await _refill.ExecuteAsync(
                    async token => await BootAsync(
                        VmNames.ForPool(_options.VmNamePrefix, _instanceId, Interlocked.Increment(ref _poolCounter)),
                        pooled: true,
                        slot: null,
                        token).ConfigureAwait(false),
                    cancellationToken).ConfigureAwait(false);
                RunnerBackendsTelemetry.RecordPoolRefill(succeeded: true);
                if (!vm.TryMove(VmState.Booting, VmState.Idle))
                {
                    // Removed while it booted (RemoveRunnerAsync by name): boot the next one.
                    continue;
                }

                RunnerBackendsTelemetry.RecordPoolSizeChange(1);
                Log.PoolVmReady(_logger, vm.Name);
                _ready.Writer.TryWrite(vm);
                await Task.WhenAny(vm.Claimed, vm.RunExited).WaitAsync(cancellationToken).ConfigureAwait(false);
                if (vm.TryMove(VmState.Idle, VmState.Removing))
                {
                    RunnerBackendsTelemetry.RecordPoolSizeChange(-1);
                    Log.PoolVmStopped(_logger, vm.Name);
                    await RemoveQuietlyAsync(vm).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // Not a boot failure (those are retried above): keep the loop alive, without spinning.
                Log.PoolLoopFailed(_logger, ex);
                try
                {
                    await Task.Delay(_options.RefillMaxDelay, _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task ShutdownCoreAsync()
    {
        await _lifetime.CancelAsync().ConfigureAwait(false);
        Task[] running;
        lock (_gate)
        {
            running = [.. _operations.Select(o => o.Task), .. _poolLoops ?? []];
        }

        try
        {
            await Task.WhenAll(running).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or RunnerBackendException)
        {
            // Starts report their own outcome to their callers; here only their end matters.
        }

        _ready.Writer.TryComplete();
        var vms = _vms.Values.ToList();
        Log.ShuttingDown(_logger, vms.Count + _leftovers.Count);
        foreach (var vm in vms)
        {
            if (vm.TryMove(VmState.Idle, VmState.Removing))
            {
                RunnerBackendsTelemetry.RecordPoolSizeChange(-1);
            }
        }

        await Task.WhenAll(vms.Select(async vm =>
        {
            try
            {
                await RemoveVmAsync(vm).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is RunnerBackendException or OperationCanceledException)
            {
                Log.ShutdownRemoveFailed(_logger, ex, vm.Name);
            }
        })).ConfigureAwait(false);

        foreach (var name in _leftovers.Keys.ToList())
        {
            try
            {
                using var budget = new CancellationTokenSource(TartDefaults.RemovalTimeout, _time);
                await StopAndDeleteByNameAsync(name, budget.Token).ConfigureAwait(false);
                _leftovers.TryRemove(name, out _);
            }
            catch (Exception ex) when (ex is RunnerBackendException or OperationCanceledException)
            {
                Log.ShutdownRemoveFailed(_logger, ex, name);
            }
        }
    }

    private bool PoolRunning
    {
        get
        {
            lock (_gate)
            {
                return _poolLoops is not null;
            }
        }
    }

    private TaskCompletionSource BeginOperation()
    {
        var operation = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            ThrowIfShutDown();
            _operations.Add(operation);
        }

        return operation;
    }

    private void EndOperation(TaskCompletionSource operation)
    {
        lock (_gate)
        {
            _operations.Remove(operation);
        }

        operation.TrySetResult();
    }

    private void ThrowIfShutDown()
    {
        if (_shutdown is not null)
        {
            throw new ObjectDisposedException(nameof(TartBackend), "The Tart backend has been shut down and starts nothing more; create a new TartBackend.");
        }
    }

    private async Task<IReadOnlyList<TartListEntry>> ListAsync(CancellationToken cancellationToken)
    {
        CommandResult result;
        try
        {
            result = await TartAsync(["list", "--format", "json"], cancellationToken).ConfigureAwait(false);
        }
        catch (CommandFailedException ex)
        {
            throw new RunnerBackendException($"tart list failed: {TartCli.Error(ex)}", ex);
        }

        try
        {
            return TartListEntry.Parse(result.StandardOutput);
        }
        catch (JsonException ex)
        {
            throw new RunnerBackendException($"Could not read the output of 'tart list --format json': {ex.Message}", ex);
        }
    }

    private Task<CommandResult> TartAsync(IEnumerable<string> arguments, CancellationToken cancellationToken) =>
        TartCli.RunAsync(_commands, _options, arguments, standardInput: null, cancellationToken);

    private ResiliencePipeline<bool> BuildReadinessPipeline()
    {
        var retry = new RetryStrategyOptions<bool>
        {
            ShouldHandle = new PredicateBuilder<bool>().HandleResult(false).Handle<TimeoutRejectedException>(),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = _options.ProbeInitialDelay,
            MaxDelay = _options.ProbeMaxDelay,
            MaxRetryAttempts = int.MaxValue,
            DelayGenerator = args =>
            {
                if (!args.Context.Properties.TryGetValue(ProbeKey, out var state))
                {
                    return new ValueTask<TimeSpan?>((TimeSpan?)null);
                }

                var elapsed = _time.GetElapsedTime(state.Vm.RunStartedTimestamp);
                return new ValueTask<TimeSpan?>(_bootClock.NextDelay(elapsed, _options.ProbeMaxDelay, DenseProbeInterval));
            },
            OnRetry = args =>
            {
                if (args.Context.Properties.TryGetValue(ProbeKey, out var state))
                {
                    Log.ProbeRetrying(_logger, state.Vm.Name, (long)args.RetryDelay.TotalMilliseconds, args.AttemptNumber + 1);
                }

                return default;
            },
        };
        if (_options.Randomizer is { } randomizer)
        {
            retry.Randomizer = randomizer;
        }

        return new ResiliencePipelineBuilder<bool> { TimeProvider = _time }
            .AddTimeout(_options.ReadinessTimeout)
            .AddRetry(retry)
            .AddTimeout(_options.ProbeAttemptTimeout)
            .Build();
    }

    private ResiliencePipeline BuildRefillPipeline()
    {
        var retry = new RetryStrategyOptions
        {
            // Boot failures of every kind are library errors (tart's own, not ready, tart missing); cancellation is not.
            ShouldHandle = new PredicateBuilder().Handle<RunnerBackendException>().Handle<TimeoutRejectedException>().Handle<IOException>(),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = _options.RefillInitialDelay,
            MaxDelay = _options.RefillMaxDelay,
            MaxRetryAttempts = int.MaxValue,
            OnRetry = args =>
            {
                RunnerBackendsTelemetry.RecordPoolRefill(succeeded: false, args.Outcome.Exception);
                Log.PoolBootFailed(_logger, args.Outcome.Exception, args.AttemptNumber + 1, (long)args.RetryDelay.TotalMilliseconds);
                return default;
            },
        };
        if (_options.Randomizer is { } randomizer)
        {
            retry.Randomizer = randomizer;
        }

        return new ResiliencePipelineBuilder { TimeProvider = _time }.AddRetry(retry).Build();
    }

    /// <summary>What one VM's readiness probing has seen so far.</summary>
    private sealed class ProbeState(TartVm vm)
    {
        public TartVm Vm { get; } = vm;

        public TartBackend Backend { get; init; } = null!;

        public int Attempts { get; set; }

        public string? LastError { get; set; }

        public TimeSpan? LastFailedAt { get; set; }

        public TimeSpan? SucceededAt { get; set; }
    }
}
