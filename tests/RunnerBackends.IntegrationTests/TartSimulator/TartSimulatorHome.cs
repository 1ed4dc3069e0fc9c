using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace RunnerBackends.IntegrationTests.TartSimulator;

/// <summary>
/// A private TART_HOME for the tart simulator (the <c>tart</c> script next to this file): a base image, the control
/// file (<c>sim/config</c>) and the simulator's records. Each test creates its own, so tests can run in parallel.
/// </summary>
/// <remarks>
/// Pass <see cref="TartPath"/> as the tart executable and <see cref="TartHome"/> as TART_HOME to the code under test.
/// Disposal stops every VM still running (their guest processes die with them) and deletes the directory.
/// </remarks>
public sealed class TartSimulatorHome : IAsyncDisposable
{
    /// <summary>Set to 1 (as CI does) to turn "the simulator cannot run here" into a failure instead of a skip.</summary>
    public const string RequireVariable = "RUNNERBACKENDS_REQUIRE_TART_SIMULATOR";

    private static readonly string[] Scripts = ["tart", "guest-init", "image/run.sh", "image/Runner.Listener"];
    private static readonly string[] RequiredTools = ["bash", "jq", "flock", "unshare", "nsenter", "setpriv", "pgrep", "sha256sum"];
    private static readonly Lazy<string?> Unavailable = new(ProbeAvailability);

    private readonly Lock _configLock = new();
    private bool _disposed;

    private TartSimulatorHome(string tartHome, string baseImage, string runnerDirectory)
    {
        TartHome = tartHome;
        BaseImage = baseImage;
        RunnerDirectory = runnerDirectory;
    }

    /// <summary>Names a directory holding the simulator's scripts, instead of the copy next to the test assembly.</summary>
    public const string DirectoryVariable = "RUNNERBACKENDS_TART_SIMULATOR_DIR";

    /// <summary>The directory holding the simulator's scripts (by default the copy next to the test assembly).</summary>
    public static string SimulatorDirectory { get; } =
        System.Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } directory
            ? Path.GetFullPath(directory)
            : Path.Combine(AppContext.BaseDirectory, "TartSimulator");

    /// <summary>Why the simulator cannot run on this machine, or <see langword="null"/> when it can.</summary>
    public static string? UnavailableReason => Unavailable.Value;

    /// <summary>The simulator's <c>tart</c> executable.</summary>
    public string TartPath => Path.Combine(SimulatorDirectory, "tart");

    /// <summary>This instance's TART_HOME (a fresh temporary directory).</summary>
    public string TartHome { get; }

    /// <summary>The name of the local VM created as a clone source by <see cref="CreateAsync"/>.</summary>
    public string BaseImage { get; }

    /// <summary>The runner directory (in the guest) of <see cref="BaseImage"/>.</summary>
    public string RunnerDirectory { get; }

    /// <summary>The environment every tart invocation against this home needs (TART_HOME).</summary>
    public IReadOnlyDictionary<string, string?> Environment => new Dictionary<string, string?> { ["TART_HOME"] = TartHome };

    /// <summary>
    /// Skips the calling test with <see cref="UnavailableReason"/> when the simulator cannot run here; throws instead
    /// when <see cref="RequireVariable"/> is 1, so CI cannot silently skip the simulator tests.
    /// </summary>
    /// <exception cref="InvalidOperationException">The simulator cannot run and is required.</exception>
    public static void SkipIfUnavailable()
    {
        if (UnavailableReason is not { } reason)
        {
            return;
        }

        if (System.Environment.GetEnvironmentVariable(RequireVariable) == "1")
        {
            throw new InvalidOperationException($"The tart simulator is required ({RequireVariable}=1) but cannot run: {reason}");
        }

        Assert.Skip($"The tart simulator cannot run here: {reason}");
    }

    /// <summary>Creates a fresh TART_HOME holding a local VM <paramref name="baseImage"/> usable as a clone source.</summary>
    /// <param name="baseImage">The base image's name.</param>
    /// <param name="runnerDirectory">Where the image's fake runner (run.sh) lives in the guest: an absolute path.</param>
    /// <param name="cancellationToken">Cancels the creation.</param>
    /// <returns>The new home; dispose it to stop its VMs and delete it.</returns>
    /// <exception cref="InvalidOperationException">The simulator failed to create the image.</exception>
    public static async Task<TartSimulatorHome> CreateAsync(
        string baseImage = "runner-base",
        string runnerDirectory = "/Users/admin/actions-runner",
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(baseImage);
        ArgumentException.ThrowIfNullOrWhiteSpace(runnerDirectory);
        EnsureExecutable();
        var tartHome = Path.Combine(Path.GetTempPath(), $"tartsim-{Guid.NewGuid():N}");
        Directory.CreateDirectory(tartHome);
        var home = new TartSimulatorHome(tartHome, baseImage, runnerDirectory);
        try
        {
            var (exitCode, output) = await home.RunRawAsync(["sim-create-image", baseImage, "--runner-dir", runnerDirectory], cancellationToken).ConfigureAwait(false);
            if (exitCode != 0)
            {
                throw new InvalidOperationException($"tart sim-create-image failed with exit code {exitCode}: {output}");
            }

            // The records start empty: they describe what the test did, not the fixture's setup.
            File.Delete(home.SimPath("invocations.log"));
            return home;
        }
        catch
        {
            await home.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Sets one control key in <c>sim/config</c> (latency, fault, limit), read by every later invocation.</summary>
    /// <param name="key">A key such as BOOT_MS, VM_LIMIT or FAIL_CLONE.</param>
    /// <param name="value">Its value; for faults <c>always</c> or a count N ("the next N times only", counted afresh).</param>
    public void Configure(string key, string value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        ArgumentNullException.ThrowIfNull(value);
        if (key.Contains('=', StringComparison.Ordinal) || key.Any(char.IsWhiteSpace) || value.Contains('\n', StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{key}={value}' is not a single KEY=VALUE line.", nameof(key));
        }

        lock (_configLock)
        {
            var path = SimPath("config");
            var lines = File.Exists(path)
                ? File.ReadAllLines(path).Where(line => !line.StartsWith(key + "=", StringComparison.Ordinal)).ToList()
                : [];
            lines.Add($"{key}={value}");

            // A fault's counter restarts with each Configure, even with the same value.
            var counter = SimPath("faults", key);
            if (File.Exists(counter))
            {
                File.Delete(counter);
            }

            // Written whole and renamed, so a concurrent invocation reads either the old or the new file.
            var temporary = $"{path}.{System.Environment.ProcessId}.tmp";
            File.WriteAllLines(temporary, lines);
            File.Move(temporary, path, overwrite: true);
        }
    }

    /// <summary>The argument lists of the tart invocations made since <see cref="CreateAsync"/> returned, in order.</summary>
    /// <returns>One argument list per invocation (without the program name).</returns>
    public IReadOnlyList<IReadOnlyList<string>> Invocations() => TimedInvocations().Select(invocation => invocation.Arguments).ToList();

    /// <summary>Like <see cref="Invocations"/>, with each invocation's start time.</summary>
    /// <returns>The start time and argument list of each invocation, in order.</returns>
    public IReadOnlyList<(DateTimeOffset StartedAt, IReadOnlyList<string> Arguments)> TimedInvocations()
    {
        var path = SimPath("invocations.log");
        if (!File.Exists(path))
        {
            return [];
        }

        var invocations = new List<(DateTimeOffset, IReadOnlyList<string>)>();
        foreach (var line in ReadAllLinesShared(path))
        {
            var fields = line.Split('\t');
            if (fields.Length == 0 || !long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var epochMs))
            {
                continue;
            }

            invocations.Add((DateTimeOffset.FromUnixTimeMilliseconds(epochMs), fields.Skip(1).Select(Unescape).ToList()));
        }

        return invocations;
    }

    /// <summary>The largest number of VMs that ran at once in this home (0 before any ran).</summary>
    /// <returns>The maximum recorded by <c>tart run</c>.</returns>
    public int MaxRunning()
    {
        var path = SimPath("max_running");
        return File.Exists(path) && int.TryParse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture, out var max) ? max : 0;
    }

    /// <summary>The names of the local VMs (the base image included), sorted ordinally.</summary>
    /// <returns>The VM names.</returns>
    public IReadOnlyList<string> Vms()
    {
        var vms = Path.Combine(TartHome, "vms");
        if (!Directory.Exists(vms))
        {
            return [];
        }

        return Directory.EnumerateDirectories(vms)
            .Where(dir => new[] { "config.json", "disk.img", "nvram.bin" }.All(file => File.Exists(Path.Combine(dir, file))))
            .Select(dir => Path.GetFileName(dir))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>The names of the VMs running now, sorted ordinally.</summary>
    /// <returns>The running VMs' names.</returns>
    public IReadOnlyList<string> RunningVms() => Vms().Where(vm => IsRunning(vm)).ToList();

    /// <summary>Reads a file of a VM's guest (its /tmp or its runner directory), running or stopped.</summary>
    /// <param name="vm">The VM's name.</param>
    /// <param name="path">An absolute guest path, e.g. <c>/tmp/jitconfig.sha256</c>.</param>
    /// <returns>The file's text, or <see langword="null"/> when it does not exist or is outside those directories.</returns>
    public string? GuestFile(string vm, string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(vm);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var guest = Path.Combine(TartHome, "vms", vm, "guest");
        var runnerDirectoryFile = Path.Combine(guest, "runner-dir");
        var runnerDirectory = File.Exists(runnerDirectoryFile) ? File.ReadAllText(runnerDirectoryFile).Trim() : RunnerDirectory;

        string? hostPath = null;
        if (IsUnder(path, "/tmp", out var relative))
        {
            hostPath = Path.Combine(guest, "tmp", relative);
        }
        else if (IsUnder(path, runnerDirectory, out relative))
        {
            hostPath = Path.Combine(guest, "runner", relative);
        }

        return hostPath is not null && File.Exists(hostPath) ? File.ReadAllText(hostPath) : null;
    }

    /// <summary>Stops every VM still running, kills what is left of their guests and deletes this TART_HOME.</summary>
    /// <returns>A task that completes when everything is gone.</returns>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        var running = RunningVms();
        await Task.WhenAll(running.Select(vm => RunRawAsync(["stop", vm, "--timeout", "5"], CancellationToken.None))).ConfigureAwait(false);

        // A run that did not stop in time: kill it and its guest outright.
        foreach (var vm in Vms())
        {
            foreach (var pid in RecordedPids(vm))
            {
                KillTree(pid);
            }
        }

        for (var attempt = 0; ; attempt++)
        {
            try
            {
                if (Directory.Exists(TartHome))
                {
                    Directory.Delete(TartHome, recursive: true);
                }

                return;
            }
            catch (Exception ex) when (attempt < 20 && ex is IOException or UnauthorizedAccessException)
            {
                // A guest that was just killed may still be releasing files.
                await Task.Delay(100).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Whether a VM runs now: its <c>tart run</c> holds an exclusive flock on its config.json.</summary>
    /// <param name="vm">The VM's name.</param>
    /// <returns><see langword="true"/> when the VM runs.</returns>
    public bool IsRunning(string vm)
    {
        var config = Path.Combine(TartHome, "vms", vm, "config.json");
        try
        {
            // On Unix, .NET takes flock(LOCK_SH | LOCK_NB) for a shared read: it fails while tart run holds LOCK_EX.
            using var probe = new FileStream(config, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return false;
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        catch (DirectoryNotFoundException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    private static string? ProbeAvailability()
    {
        if (!OperatingSystem.IsLinux())
        {
            return $"it needs Linux (namespaces), this is {RuntimeInformation.OSDescription}";
        }

        if (!File.Exists(Path.Combine(SimulatorDirectory, "tart")))
        {
            return $"the simulator script is missing from {SimulatorDirectory}";
        }

        var missing = RequiredTools.Where(tool => FindOnPath(tool) is null).ToList();
        if (missing.Count > 0)
        {
            return $"missing tools: {string.Join(", ", missing)} (eng/setup-machine.sh installs them)";
        }

        // Root gets a PID + mount namespace per VM; anyone else needs unprivileged user namespaces for the same.
        string[] probe = IsRoot()
            ? ["--pid", "--mount", "--fork", "--mount-proc", "true"]
            : ["--user", "--map-root-user", "--pid", "--mount", "--fork", "--mount-proc", "true"];
        try
        {
            using var process = Process.Start(new ProcessStartInfo("unshare", probe)
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            })!;
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                return IsRoot()
                    ? $"cannot create PID and mount namespaces (unshare: {error.Trim()}); a container needs CAP_SYS_ADMIN"
                    : $"not root and unprivileged user namespaces are unavailable (unshare: {error.Trim()}); run as root";
            }
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return $"cannot run unshare: {ex.Message}";
        }

        return null;
    }

    // Environment.UserName names the effective user on Unix.
    private static bool IsRoot() => System.Environment.UserName == "root";

    private static string? FindOnPath(string tool) =>
        (System.Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin")
            .Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, tool))
            .FirstOrDefault(File.Exists);

    private static void EnsureExecutable()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        // Build copies may drop the executable bit.
        foreach (var script in Scripts)
        {
            var path = Path.Combine(SimulatorDirectory, script);
            if (File.Exists(path))
            {
                var mode = File.GetUnixFileMode(path);
                const UnixFileMode execute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
                if ((mode & execute) != execute)
                {
                    File.SetUnixFileMode(path, mode | execute);
                }
            }
        }
    }

    private static bool IsUnder(string path, string directory, out string relative)
    {
        directory = directory.TrimEnd('/');
        if (path.StartsWith(directory + "/", StringComparison.Ordinal) && !path.Contains("/../", StringComparison.Ordinal))
        {
            relative = path[(directory.Length + 1)..];
            return relative.Length > 0;
        }

        relative = string.Empty;
        return false;
    }

    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }

        var builder = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 1 < field.Length)
            {
                builder.Append(field[++i] switch { 't' => '\t', 'n' => '\n', var other => other });
            }
            else
            {
                builder.Append(field[i]);
            }
        }

        return builder.ToString();
    }

    private static IEnumerable<string> ReadAllLinesShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            lines.Add(line);
        }

        return lines;
    }

    private static void KillTree(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            process.Kill(entireProcessTree: true);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // Already gone.
        }
    }

    private IEnumerable<int> RecordedPids(string vm)
    {
        var state = Path.Combine(TartHome, "vms", vm, ".sim");
        var pids = new List<int>();
        if (!IsRunning(vm))
        {
            return pids;
        }

        foreach (var file in new[] { "run.pid", "state" })
        {
            var path = Path.Combine(state, file);
            if (File.Exists(path))
            {
                pids.AddRange(File.ReadAllText(path)
                    .Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries)
                    .Take(1)
                    .Select(text => int.TryParse(text, CultureInfo.InvariantCulture, out var pid) ? pid : 0)
                    .Where(pid => pid > 1));
            }
        }

        return pids;
    }

    private string SimPath(params string[] parts) => Path.Combine([TartHome, "sim", .. parts]);

    private async Task<(int ExitCode, string Output)> RunRawAsync(IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(TartPath)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        startInfo.Environment["TART_HOME"] = TartHome;
        using var process = Process.Start(startInfo)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        return (process.ExitCode, await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false));
    }
}
