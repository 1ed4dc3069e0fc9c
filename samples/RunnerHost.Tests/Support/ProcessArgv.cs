using System.Diagnostics;
using System.Text;

namespace RunnerHost.Tests.Support;

/// <summary>What every process on this machine was started with, and what docker inspect says of a container.</summary>
internal static class ProcessArgv
{
    /// <summary>The command lines of every process visible in /proc (containers' and simulated guests' included).</summary>
    public static IReadOnlyList<string> All()
    {
        var lines = new List<string>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out _))
            {
                continue;
            }

            try
            {
                lines.Add(Encoding.UTF8.GetString(File.ReadAllBytes(Path.Combine(dir, "cmdline"))).Replace('\0', ' '));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The process ended while being read.
            }
        }

        return lines;
    }

    /// <summary><c>docker inspect</c>'s Path, Args, Config.Cmd and Config.Entrypoint of a container, as one text.</summary>
    public static async Task<string> DockerCommandOfAsync(string containerName)
    {
        var start = new ProcessStartInfo("docker") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "inspect", "--format", "{{json .Path}} {{json .Args}} {{json .Config.Cmd}} {{json .Config.Entrypoint}}", containerName })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return output;
    }
}
