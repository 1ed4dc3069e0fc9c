using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RunnerBackends.Commands.Internal;

namespace RunnerBackends;

/// <summary>
/// Runs programs as child processes: the default <see cref="ICommandRunner"/>.
/// </summary>
/// <remarks>
/// Standard output and error are read concurrently, so large output cannot deadlock the child. Standard input is
/// written and then closed (an empty, closed input when none is given), so a child never waits on the host's console.
/// Cancellation kills the child and every process it started.
/// </remarks>
public sealed class ProcessCommandRunner : ICommandRunner
{
    // After the child exits, grandchildren may still hold its output pipes open (a daemon it started).
    private static readonly TimeSpan OutputDrainTimeout = TimeSpan.FromSeconds(2);

    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;

    /// <summary>Initializes a new instance of the <see cref="ProcessCommandRunner"/> class.</summary>
    /// <param name="logger">Receives a debug line per command (its argument list, never its standard input).</param>
    /// <param name="timeProvider">Measures durations; <see cref="TimeProvider.System"/> when <see langword="null"/>.</param>
    public ProcessCommandRunner(ILogger<ProcessCommandRunner>? logger = null, TimeProvider? timeProvider = null)
    {
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <inheritdoc />
    public Task<CommandResult> RunAsync(CommandRequest command, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        return RunCoreAsync(command, output: null, cancellationToken);
    }

    /// <inheritdoc />
    public Task<CommandResult> RunStreamingAsync(CommandRequest command, IProgress<string> output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(output);
        return RunCoreAsync(command, output, cancellationToken);
    }

    private async Task<CommandResult> RunCoreAsync(CommandRequest command, IProgress<string>? output, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();

        var startInfo = new ProcessStartInfo(command.FileName)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            StandardInputEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false),
        };
        foreach (var argument in command.Arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        if (command.WorkingDirectory is not null)
        {
            startInfo.WorkingDirectory = command.WorkingDirectory;
        }

        if (command.Environment is not null)
        {
            foreach (var (key, value) in command.Environment)
            {
                if (value is null)
                {
                    startInfo.Environment.Remove(key);
                }
                else
                {
                    startInfo.Environment[key] = value;
                }
            }
        }

        var commandText = command.ToString();
        using var process = new Process { StartInfo = startInfo };
        var started = _timeProvider.GetTimestamp();
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            throw new CommandNotFoundException(command.FileName, ex);
        }

        Log.CommandStarting(_logger, commandText);

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var readStdout = ReadAsync(process.StandardOutput, stdout, output);
        var readStderr = ReadAsync(process.StandardError, stderr, output);
        var writeStdin = WriteInputAsync(process.StandardInput, command.StandardInput);

        var cancelled = false;
        using (cancellationToken.Register(() =>
        {
            cancelled = true;
            KillTree(process);
        }))
        {
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        }

        await writeStdin.ConfigureAwait(false);
        var drained = Task.WhenAll(readStdout, readStderr);
        if (await Task.WhenAny(drained, Task.Delay(OutputDrainTimeout, _timeProvider, CancellationToken.None)).ConfigureAwait(false) != drained)
        {
            Log.OutputNotClosed(_logger, commandText);
        }

        if (cancelled)
        {
            Log.CommandCancelled(_logger, commandText, process.Id);
            throw new OperationCanceledException($"'{commandText}' was cancelled.", cancellationToken);
        }

        var exitCode = process.ExitCode;
        Log.CommandExited(_logger, commandText, exitCode, (long)_timeProvider.GetElapsedTime(started).TotalMilliseconds);

        CommandResult result;
        lock (stdout)
        {
            lock (stderr)
            {
                result = new CommandResult(exitCode, stdout.ToString(), stderr.ToString());
            }
        }

        return exitCode == 0 ? result : throw new CommandFailedException(command, result);
    }

    private static async Task ReadAsync(StreamReader reader, StringBuilder sink, IProgress<string>? output)
    {
        try
        {
            if (output is null)
            {
                var buffer = new char[8192];
                int read;
                while ((read = await reader.ReadAsync(buffer.AsMemory(), CancellationToken.None).ConfigureAwait(false)) > 0)
                {
                    lock (sink)
                    {
                        sink.Append(buffer, 0, read);
                    }
                }

                return;
            }

            while (await reader.ReadLineAsync(CancellationToken.None).ConfigureAwait(false) is { } line)
            {
                lock (sink)
                {
                    sink.Append(line).Append('\n');
                }

                output.Report(line);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The pipe closed under us (the process was killed); keep what was read.
        }
    }

    private static async Task WriteInputAsync(StreamWriter stdin, string? input)
    {
        try
        {
            if (!string.IsNullOrEmpty(input))
            {
                await stdin.WriteAsync(input.AsMemory(), CancellationToken.None).ConfigureAwait(false);
                await stdin.FlushAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException)
        {
            // The child exited without reading all of its input: its exit code tells the story.
        }
        finally
        {
            try
            {
                stdin.Close();
            }
            catch (IOException)
            {
                // Broken pipe on close: same as above.
            }
        }
    }

    private static void KillTree(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (Exception ex) when (ex is InvalidOperationException or Win32Exception or NotSupportedException)
        {
            // Already exited.
        }
    }
}
