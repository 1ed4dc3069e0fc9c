using Microsoft.Extensions.Logging;

namespace RunnerBackends.Commands.Internal;

/// <summary>Log events of the command runner (event ids 1000-1099).</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Debug, Message = "Running {Command}")]
    public static partial void CommandStarting(ILogger logger, string command);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Debug, Message = "{Command} exited with code {ExitCode} after {ElapsedMs} ms")]
    public static partial void CommandExited(ILogger logger, string command, int exitCode, long elapsedMs);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Debug, Message = "{Command} was cancelled; killed its process tree (pid {ProcessId})")]
    public static partial void CommandCancelled(ILogger logger, string command, int processId);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "{Command} exited but its output stayed open (a child process holds it); returning what was read")]
    public static partial void OutputNotClosed(ILogger logger, string command);
}
