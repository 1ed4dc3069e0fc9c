using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;

namespace RunnerHost.Hosting;

/// <summary>
/// One short line per event, for a person watching the keeper: <c>12:00:01 message</c>, with the level for warnings
/// and errors and the exception's message (not its stack) when there is one.
/// </summary>
internal sealed class KeeperConsoleFormatter() : ConsoleFormatter(Name)
{
    public new const string Name = "keeper";

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = logEntry.Formatter(logEntry.State, logEntry.Exception);
        if (string.IsNullOrEmpty(message) && logEntry.Exception is null)
        {
            return;
        }

        var level = logEntry.LogLevel switch
        {
            LogLevel.Warning => "warn: ",
            LogLevel.Error => "error: ",
            LogLevel.Critical => "fatal: ",
            LogLevel.Debug or LogLevel.Trace => "debug: ",
            _ => string.Empty,
        };
        textWriter.Write(DateTime.Now.ToString("HH:mm:ss ", System.Globalization.CultureInfo.InvariantCulture));
        textWriter.Write(level);
        textWriter.Write(message);
        if (logEntry.Exception is { } e && !message.Contains(e.Message, StringComparison.Ordinal))
        {
            textWriter.Write(" (" + e.GetType().Name + ": " + e.Message + ")");
        }

        textWriter.WriteLine();
    }
}
