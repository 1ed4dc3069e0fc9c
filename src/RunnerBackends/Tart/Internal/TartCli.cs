namespace RunnerBackends.Tart.Internal;

/// <summary>Builds and runs <c>tart</c> commands: the configured executable, TART_HOME when set, tart's errors mapped.</summary>
internal static class TartCli
{
    public static CommandRequest Request(TartBackendOptions options, IEnumerable<string> arguments, string? standardInput = null) =>
        new(options.TartPath, arguments)
        {
            StandardInput = standardInput,
            Environment = options.TartHome is null ? null : new Dictionary<string, string?> { ["TART_HOME"] = options.TartHome },
        };

    public static async Task<CommandResult> RunAsync(
        ICommandRunner runner,
        TartBackendOptions options,
        IEnumerable<string> arguments,
        string? standardInput,
        CancellationToken cancellationToken)
    {
        try
        {
            return await runner.RunAsync(Request(options, arguments, standardInput), cancellationToken).ConfigureAwait(false);
        }
        catch (CommandNotFoundException ex)
        {
            throw NotFound(options, ex);
        }
    }

    public static RunnerBackendException NotFound(TartBackendOptions options, CommandNotFoundException ex) =>
        new($"The tart executable could not be started (TartPath is '{options.TartPath}'): install tart (https://tart.run) or set TartBackendOptions.TartPath to its full path. {ex.Message}", ex);

    /// <summary>Whether tart said the VM does not exist or is not running (exit code 2, or the texts when parsing lost the code).</summary>
    public static bool IsGoneOrStopped(CommandFailedException ex) =>
        ex.ExitCode == 2
        || ex.StandardError.Contains("does not exist", StringComparison.Ordinal)
        || ex.StandardError.Contains("is not running", StringComparison.Ordinal);

    public static string Error(CommandFailedException ex)
    {
        var stderr = ex.StandardError.Trim();
        return stderr.Length > 0 ? stderr : $"exit code {ex.ExitCode}";
    }
}

/// <summary>Forwards each line at once, on the reporting thread (unlike <see cref="Progress{T}"/>, which posts).</summary>
internal sealed class LineSink(Action<string> onLine) : IProgress<string>
{
    public void Report(string value) => onLine(value);
}
