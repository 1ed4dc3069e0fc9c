using System.Globalization;
using RunnerBackends.Docker.Internal;

namespace RunnerBackends.Docker;

/// <summary>
/// How <see cref="DockerBackend"/> creates runner containers. Only <see cref="RunnerImage"/> is required.
/// The backend takes a copy at construction, so later changes have no effect on it.
/// </summary>
public sealed class DockerBackendOptions
{
    /// <summary>Gets or sets the image runner containers are created from (required). It must already be on the engine: the library never pulls.</summary>
    public string RunnerImage { get; set; } = "";

    /// <summary>
    /// Gets or sets a value indicating whether the host's Docker socket is mounted into each runner at
    /// <c>/var/run/docker.sock</c>, with the socket's group and gid 0 added to the container's groups, so jobs can use
    /// Docker. Defaults to <see langword="true"/>.
    /// </summary>
    public bool MountDockerSocket { get; set; } = DockerBackendDefaults.MountDockerSocket;

    /// <summary>Gets or sets the host path of the Docker socket mounted when <see cref="MountDockerSocket"/> is on. Defaults to <c>/var/run/docker.sock</c>.</summary>
    public string DockerSocketPath { get; set; } = DockerBackendDefaults.DockerSocketPath;

    /// <summary>
    /// Gets or sets the absolute path inside each runner where the shared volume <see cref="SharedVolumeName"/> is
    /// mounted (exported to jobs as <c>SHARED_DIR</c>); <see langword="null"/> (the default) mounts no shared volume.
    /// </summary>
    public string? SharedVolumePath { get; set; }

    /// <summary>Gets or sets the name of the Docker volume shared by all runners. Defaults to <c>runner-shared</c>.</summary>
    public string SharedVolumeName { get; set; } = DockerBackendDefaults.SharedVolumeName;

    /// <summary>Gets or sets each runner's memory limit in MiB; 0 (the default) means unlimited.</summary>
    public long MemoryLimitMB { get; set; }

    /// <summary>Gets or sets each runner's CPU limit in cores (fractions allowed, e.g. 1.5); 0 (the default) means unlimited.</summary>
    public double CpuLimit { get; set; }

    /// <summary>Gets or sets the platform of the runner image, <c>os/arch[/variant]</c> (e.g. <c>linux/arm64</c>); <see langword="null"/> uses the engine's.</summary>
    public string? Platform { get; set; }

    /// <summary>Gets or sets the program each runner container runs (a path, no arguments). Defaults to <c>/home/runner/run.sh</c>.</summary>
    public string RunnerCommand { get; set; } = DockerBackendDefaults.RunnerCommand;

    /// <summary>Gets or sets the user the runner runs as inside the container. Defaults to <c>runner</c>.</summary>
    public string User { get; set; } = DockerBackendDefaults.User;

    /// <summary>
    /// Gets or sets the owner label value that scopes orphan cleanup to one host application, so that two hosts
    /// sharing an engine never remove each other's runners. Defaults to the machine name.
    /// </summary>
    public string Owner { get; set; } = DockerBackendDefaults.Owner;

    /// <summary>Lists every problem with these options; empty when they are valid.</summary>
    internal IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(RunnerImage))
        {
            problems.Add("RunnerImage is required (the image runner containers are created from).");
        }
        else if (RunnerImage.Any(char.IsWhiteSpace))
        {
            problems.Add($"RunnerImage '{RunnerImage}' must not contain white space.");
        }

        if (MountDockerSocket && !IsAbsolutePath(DockerSocketPath))
        {
            problems.Add($"DockerSocketPath '{DockerSocketPath}' must be an absolute path when MountDockerSocket is on.");
        }

        if (SharedVolumePath is not null && (!IsAbsolutePath(SharedVolumePath) || SharedVolumePath == "/"))
        {
            problems.Add($"SharedVolumePath '{SharedVolumePath}' must be an absolute path other than '/' (or null for no shared volume).");
        }

        if (!IsVolumeName(SharedVolumeName))
        {
            problems.Add($"SharedVolumeName '{SharedVolumeName}' is not a valid Docker volume name (letters, digits, '_', '.', '-', starting with a letter or digit).");
        }

        if (MemoryLimitMB < 0 || MemoryLimitMB is > 0 and < DockerBackendDefaults.MinimumMemoryLimitMB || MemoryLimitMB > long.MaxValue / (1024 * 1024))
        {
            problems.Add($"MemoryLimitMB {MemoryLimitMB} must be 0 (unlimited) or at least {DockerBackendDefaults.MinimumMemoryLimitMB}.");
        }

        if (!double.IsFinite(CpuLimit) || CpuLimit < 0 || CpuLimit > 1_000_000)
        {
            problems.Add($"CpuLimit {CpuLimit.ToString(CultureInfo.InvariantCulture)} must be 0 (unlimited) or a positive number of cores.");
        }
        else if (CpuLimit > 0 && CpuLimit < 0.01)
        {
            problems.Add($"CpuLimit {CpuLimit.ToString(CultureInfo.InvariantCulture)} is below Docker's minimum of 0.01 cores.");
        }

        if (Platform is not null && !IsPlatform(Platform))
        {
            problems.Add($"Platform '{Platform}' must look like os/arch or os/arch/variant (e.g. linux/amd64, linux/arm64/v8).");
        }

        if (string.IsNullOrWhiteSpace(RunnerCommand))
        {
            problems.Add("RunnerCommand is required (the program each runner container runs).");
        }
        else if (RunnerCommand.Any(char.IsControl))
        {
            problems.Add("RunnerCommand must not contain control characters.");
        }

        if (string.IsNullOrWhiteSpace(User) || User.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            problems.Add($"User '{User}' must be a user name or uid[:gid] without white space.");
        }

        if (string.IsNullOrWhiteSpace(Owner) || Owner.Any(char.IsControl))
        {
            problems.Add("Owner must be a non-empty label value without control characters (it scopes orphan cleanup to this host).");
        }

        return problems;
    }

    /// <summary>Returns a copy, so that a backend is not affected by later changes to the caller's instance.</summary>
    internal DockerBackendOptions Clone() => (DockerBackendOptions)MemberwiseClone();

    private static bool IsAbsolutePath(string? path) =>
        !string.IsNullOrEmpty(path) && path[0] == '/' && !path.Any(char.IsControl) && !path.Contains(':', StringComparison.Ordinal);

    private static bool IsVolumeName(string? name) =>
        !string.IsNullOrEmpty(name) && char.IsAsciiLetterOrDigit(name[0]) &&
        name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-');

    private static bool IsPlatform(string platform)
    {
        var parts = platform.Split('/');
        return parts.Length is 2 or 3 && parts.All(p => p.Length > 0 && p.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'));
    }
}
