namespace RunnerBackends.Docker.Internal;

/// <summary>The defaults of <see cref="DockerBackendOptions"/> and of the maintenance helpers, in one place.</summary>
internal static class DockerBackendDefaults
{
    public const bool MountDockerSocket = true;
    public const string DockerSocketPath = "/var/run/docker.sock";
    public const string ContainerDockerSocketPath = "/var/run/docker.sock";
    public const string SharedVolumeName = "runner-shared";
    public const string RunnerCommand = "/home/runner/run.sh";
    public const string User = "runner";
    public const string JitConfigVariable = "ACTIONS_RUNNER_INPUT_JITCONFIG";
    public const string SharedDirVariable = "SHARED_DIR";

    /// <summary>uid:gid of the <c>runner</c> user and <c>docker</c> group in the official runner image.</summary>
    public const string SharedVolumeOwner = "1001:123";

    /// <summary>Docker refuses memory limits below 6 MiB.</summary>
    public const long MinimumMemoryLimitMB = 6;

    public static readonly TimeSpan StaleSweepTimeout = TimeSpan.FromMinutes(10);

    public static string Owner => Environment.MachineName;
}
