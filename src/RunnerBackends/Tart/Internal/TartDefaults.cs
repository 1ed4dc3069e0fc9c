namespace RunnerBackends.Tart.Internal;

/// <summary>The defaults of <see cref="TartBackendOptions"/> and the limits its validation applies, in one place.</summary>
internal static class TartDefaults
{
    public const string RunnerDirectory = "/Users/admin/actions-runner";
    public const string TartPath = "tart";
    public const int MaxRunners = 2;
    public const string VmNamePrefix = "runnerbackends";

    // A VM name is "<prefix>-pool-<6 hex>-<counter>" at its longest generated form, and must stay within the runner-name
    // rule's 64 characters; 32 leaves room for that and for a readable part of a runner's name.
    public const int MaxVmNamePrefixLength = 32;

    // Slot indices become the last byte of a MAC address (02:00:00:00:00:NN, NN = index + 1).
    public const int MaxRunnersLimit = 254;

    public static readonly TimeSpan ReadinessTimeout = TimeSpan.FromMinutes(2);
    public static readonly TimeSpan ProbeInitialDelay = TimeSpan.FromMilliseconds(150);
    public static readonly TimeSpan ProbeMaxDelay = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan ProbeAttemptTimeout = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan RunnerStartTimeout = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan RefillInitialDelay = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan RefillMaxDelay = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan ExitPollInterval = TimeSpan.FromMilliseconds(500);

    // How long removal waits for `tart run` to exit after `tart stop` before killing it.
    public static readonly TimeSpan RunExitGrace = TimeSpan.FromSeconds(10);

    // Bounds one removal (stop, wait, delete) so cleanup after a failure can never hang a caller forever.
    public static readonly TimeSpan RemovalTimeout = TimeSpan.FromMinutes(2);
}
