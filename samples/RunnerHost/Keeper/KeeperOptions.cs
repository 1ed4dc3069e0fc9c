namespace RunnerHost.Keeper;

/// <summary>How many runners to keep and on which backend (configuration section <c>Keeper</c>).</summary>
public sealed class KeeperOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Keeper";

    /// <summary><c>docker</c> or <c>tart</c>; its options are the section of the same name (<c>Docker</c>, <c>Tart</c>).</summary>
    public string Backend { get; set; } = "docker";

    /// <summary>Idle runners to keep registered and waiting for a job.</summary>
    public int MinIdle { get; set; } = 1;

    /// <summary>The most runners held at once (idle, busy, starting and being removed).</summary>
    public int Max { get; set; } = 4;

    /// <summary>How often the status line is printed.</summary>
    public TimeSpan StatusInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>First wait after a runner failed to start; doubles per consecutive failure.</summary>
    public TimeSpan StartBackoff { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The longest wait between start attempts while the backend keeps failing.</summary>
    public TimeSpan MaxStartBackoff { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long graceful shutdown may take before the host gives up (HostOptions.ShutdownTimeout).</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>Stop by itself after this long (the demo's --duration); null runs until Ctrl+C or SIGTERM.</summary>
    public TimeSpan? RunFor { get; set; }

    internal IEnumerable<string> Validate()
    {
        if (Backend is not ("docker" or "tart"))
        {
            yield return $"Keeper:Backend must be 'docker' or 'tart' (was '{Backend}').";
        }

        if (MinIdle < 0)
        {
            yield return $"Keeper:MinIdle must be 0 or more (was {MinIdle}).";
        }

        if (Max < 1)
        {
            yield return $"Keeper:Max must be 1 or more (was {Max}).";
        }

        if (MinIdle > Max)
        {
            yield return $"Keeper:MinIdle ({MinIdle}) cannot exceed Keeper:Max ({Max}).";
        }

        if (StatusInterval <= TimeSpan.Zero || StartBackoff <= TimeSpan.Zero || MaxStartBackoff < StartBackoff)
        {
            yield return "Keeper:StatusInterval and Keeper:StartBackoff must be positive, and Keeper:MaxStartBackoff at least StartBackoff.";
        }
    }
}
