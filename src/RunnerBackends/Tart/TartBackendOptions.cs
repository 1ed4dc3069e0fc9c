using RunnerBackends.Tart.Internal;

namespace RunnerBackends.Tart;

/// <summary>
/// Settings of a <see cref="TartBackend"/>: the image to clone, where the runner lives in it, how many VMs may run, the
/// warm pool, and the time budgets of booting and starting a runner.
/// </summary>
/// <remarks>
/// <see cref="TartBackend"/> validates these settings when it is constructed and reports every problem at once.
/// </remarks>
public sealed class TartBackendOptions
{
    /// <summary>Gets or sets the image every VM is cloned from: a local VM name or an OCI reference
    /// (for example <c>ghcr.io/cirruslabs/macos-sequoia-base:latest</c>). Required.</summary>
    public string BaseImage { get; set; } = string.Empty;

    /// <summary>Gets or sets the absolute directory in the guest that holds the GitHub Actions runner (its <c>run.sh</c>).
    /// Defaults to <c>/Users/admin/actions-runner</c>.</summary>
    public string RunnerDirectory { get; set; } = TartDefaults.RunnerDirectory;

    /// <summary>Gets or sets tart's home directory, passed to every <c>tart</c> call as <c>TART_HOME</c>;
    /// <see langword="null"/> uses tart's default (<c>$TART_HOME</c>, else <c>~/.tart</c>).</summary>
    public string? TartHome { get; set; }

    /// <summary>Gets or sets the <c>tart</c> executable: a name looked up on PATH or a full path. Defaults to <c>tart</c>.</summary>
    public string TartPath { get; set; } = TartDefaults.TartPath;

    /// <summary>Gets or sets the CPU cores of each VM; 0 keeps the image's setting.</summary>
    public int Cpu { get; set; }

    /// <summary>Gets or sets the memory of each VM in megabytes; 0 keeps the image's setting.</summary>
    public int MemoryMB { get; set; }

    /// <summary>Gets or sets how many VMs <see cref="TartBackend.StartPool"/> keeps booted and ready; 0 (the default)
    /// means no pool. At most <see cref="MaxRunners"/>.</summary>
    public int PoolSize { get; set; }

    /// <summary>Gets or sets how many VMs this backend runs at once (pooled and in use together). Defaults to 2, Apple's
    /// limit of running macOS VMs per host.</summary>
    public int MaxRunners { get; set; } = TartDefaults.MaxRunners;

    /// <summary>Gets or sets the prefix of the name of every VM this backend creates (<c>&lt;prefix&gt;-...</c>), by which
    /// <see cref="TartBackend.RemoveOrphansAsync"/> finds leftovers. Follows the runner-name rule, at most 32 characters.
    /// Give each backend on a host its own prefix. Defaults to <c>runnerbackends</c>.</summary>
    public string VmNamePrefix { get; set; } = TartDefaults.VmNamePrefix;

    /// <summary>Gets or sets how long a booting VM may take until its guest agent answers. Defaults to 2 minutes.</summary>
    public TimeSpan ReadinessTimeout { get; set; } = TartDefaults.ReadinessTimeout;

    /// <summary>Gets or sets the median delay before the second readiness probe; later delays grow exponentially, with
    /// jitter, up to <see cref="ProbeMaxDelay"/>. Defaults to 150 ms.</summary>
    public TimeSpan ProbeInitialDelay { get; set; } = TartDefaults.ProbeInitialDelay;

    /// <summary>Gets or sets the longest delay between two readiness probes. Defaults to 1 second.</summary>
    public TimeSpan ProbeMaxDelay { get; set; } = TartDefaults.ProbeMaxDelay;

    /// <summary>Gets or sets how long one readiness probe (<c>tart exec &lt;vm&gt; true</c>) may take before it is
    /// abandoned and retried: an unreachable guest agent can stall an exec for 10 to 30 seconds. Defaults to 5 seconds.</summary>
    public TimeSpan ProbeAttemptTimeout { get; set; } = TartDefaults.ProbeAttemptTimeout;

    /// <summary>Gets or sets how long the runner may take, once launched in a ready VM, until its <c>Runner.Listener</c>
    /// process runs. Defaults to 30 seconds.</summary>
    public TimeSpan RunnerStartTimeout { get; set; } = TartDefaults.RunnerStartTimeout;

    /// <summary>Gets or sets the first delay before the warm pool retries a failed boot; later delays grow exponentially,
    /// with jitter, up to <see cref="RefillMaxDelay"/>. Defaults to 1 second.</summary>
    public TimeSpan RefillInitialDelay { get; set; } = TartDefaults.RefillInitialDelay;

    /// <summary>Gets or sets the longest delay between two failed warm-pool boots. Defaults to 30 seconds.</summary>
    public TimeSpan RefillMaxDelay { get; set; } = TartDefaults.RefillMaxDelay;

    /// <summary>Gets or sets how often the guest checks whether the runner has exited while
    /// <see cref="TartBackend.WaitForExitAsync"/> waits. Defaults to 500 ms.</summary>
    public TimeSpan ExitPollInterval { get; set; } = TartDefaults.ExitPollInterval;

    /// <summary>Gets or sets a value indicating whether each VM gets the stable, locally administered MAC address of its
    /// slot (<c>02:00:00:00:00:NN</c>), so that short-lived VMs do not exhaust the host's DHCP leases. Defaults to
    /// <see langword="true"/>.</summary>
    public bool AssignStableMacAddresses { get; set; } = true;

    /// <summary>Pins the jitter of every retry (tests only): a value in [0, 1) returned instead of a random one.</summary>
    internal Func<double>? Randomizer { get; set; }

    /// <summary>A copy, so that later changes to the caller's instance do not reach a running backend.</summary>
    internal TartBackendOptions Clone() => (TartBackendOptions)MemberwiseClone();

    /// <summary>Lists every problem of these settings; empty when they are usable.</summary>
    internal IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(BaseImage))
        {
            problems.Add("BaseImage is required: the local VM or OCI image every runner VM is cloned from.");
        }

        if (string.IsNullOrWhiteSpace(RunnerDirectory) || !RunnerDirectory.StartsWith('/') || RunnerDirectory.Any(char.IsControl))
        {
            problems.Add($"RunnerDirectory must be an absolute path in the guest (such as {TartDefaults.RunnerDirectory}); got '{RunnerDirectory}'.");
        }

        if (string.IsNullOrWhiteSpace(TartPath))
        {
            problems.Add("TartPath must name the tart executable (\"tart\" or a full path).");
        }

        if (MaxRunners is < 1 or > TartDefaults.MaxRunnersLimit)
        {
            problems.Add($"MaxRunners must be between 1 and {TartDefaults.MaxRunnersLimit}; got {MaxRunners}.");
        }

        if (PoolSize < 0 || PoolSize > Math.Max(MaxRunners, 0))
        {
            problems.Add($"PoolSize must be between 0 and MaxRunners ({MaxRunners}); got {PoolSize}.");
        }

        if (Cpu < 0)
        {
            problems.Add($"Cpu must be 0 (the image's setting) or more; got {Cpu}.");
        }

        if (MemoryMB < 0)
        {
            problems.Add($"MemoryMB must be 0 (the image's setting) or more; got {MemoryMB}.");
        }

        if (!RunnerName.IsValid(VmNamePrefix) || VmNamePrefix.Length > TartDefaults.MaxVmNamePrefixLength)
        {
            problems.Add($"VmNamePrefix must be 1 to {TartDefaults.MaxVmNamePrefixLength} letters, digits, '-', '_' or '.', starting with a letter or digit; got '{VmNamePrefix}'.");
        }

        RequireTimeout(problems, ReadinessTimeout, nameof(ReadinessTimeout));
        RequirePositive(problems, ProbeInitialDelay, nameof(ProbeInitialDelay));
        RequirePositive(problems, ProbeMaxDelay, nameof(ProbeMaxDelay));
        RequireTimeout(problems, ProbeAttemptTimeout, nameof(ProbeAttemptTimeout));
        RequirePositive(problems, RunnerStartTimeout, nameof(RunnerStartTimeout));
        RequirePositive(problems, RefillInitialDelay, nameof(RefillInitialDelay));
        RequirePositive(problems, RefillMaxDelay, nameof(RefillMaxDelay));
        RequirePositive(problems, ExitPollInterval, nameof(ExitPollInterval));
        if (ProbeMaxDelay < ProbeInitialDelay)
        {
            problems.Add($"ProbeMaxDelay ({ProbeMaxDelay}) must not be shorter than ProbeInitialDelay ({ProbeInitialDelay}).");
        }

        if (RefillMaxDelay < RefillInitialDelay)
        {
            problems.Add($"RefillMaxDelay ({RefillMaxDelay}) must not be shorter than RefillInitialDelay ({RefillInitialDelay}).");
        }

        if (ProbeAttemptTimeout > ReadinessTimeout && ReadinessTimeout > TimeSpan.Zero)
        {
            problems.Add($"ProbeAttemptTimeout ({ProbeAttemptTimeout}) must not be longer than ReadinessTimeout ({ReadinessTimeout}).");
        }

        return problems;
    }

    private static void RequireTimeout(List<string> problems, TimeSpan value, string name)
    {
        // The range Polly's timeout strategy accepts.
        if (value < TimeSpan.FromMilliseconds(10) || value > TimeSpan.FromDays(1))
        {
            problems.Add($"{name} must be between 10 ms and one day; got {value}.");
        }
    }

    private static void RequirePositive(List<string> problems, TimeSpan value, string name)
    {
        // Polly's timeout strategy accepts at most one day; nothing here needs more.
        if (value <= TimeSpan.Zero || value > TimeSpan.FromDays(1))
        {
            problems.Add($"{name} must be more than zero and at most one day; got {value}.");
        }
    }
}
