using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;

namespace RunnerBackends.IntegrationTests.Commands;

public class ProcessCommandRunnerTests
{
    private static ProcessCommandRunner CreateSut(FakeLogger<ProcessCommandRunner>? logger = null) => new(logger);

    [Fact]
    public async Task RunAsync_ArgumentsWithSpacesAndQuotes_PassedUnsplit()
    {
        var result = await CreateSut().RunAsync(
            new CommandRequest("printf", "%s|", "a b", "\"q\"", "$HOME", "--flag"),
            TestContext.Current.CancellationToken);

        result.ExitCode.Should().Be(0);
        result.StandardOutput.Should().Be("a b|\"q\"|$HOME|--flag|");
    }

    [Fact]
    public async Task RunAsync_StandardInput_ReachesChildAndIsClosed()
    {
        var result = await CreateSut().RunAsync(
            new CommandRequest("sh", "-c", "cat; echo end") { StandardInput = "secret-input\n" },
            TestContext.Current.CancellationToken);

        result.StandardOutput.Should().Be("secret-input\nend\n");
    }

    [Fact]
    public async Task RunAsync_NoStandardInput_ChildSeesEmptyClosedInput()
    {
        var result = await CreateSut().RunAsync(
            new CommandRequest("sh", "-c", "cat; echo eof"),
            TestContext.Current.CancellationToken);

        result.StandardOutput.Should().Be("eof\n");
    }

    [Fact]
    public async Task RunAsync_Environment_AddsAndRemovesVariables()
    {
        Environment.SetEnvironmentVariable("RUNNERBACKENDS_TEST_REMOVE", "present");
        var result = await CreateSut().RunAsync(
            new CommandRequest("sh", "-c", "echo \"$TART_HOME:${RUNNERBACKENDS_TEST_REMOVE:-gone}\"")
            {
                Environment = new Dictionary<string, string?>
                {
                    ["TART_HOME"] = "/tmp/tart-home",
                    ["RUNNERBACKENDS_TEST_REMOVE"] = null,
                },
            },
            TestContext.Current.CancellationToken);

        result.StandardOutput.Should().Be("/tmp/tart-home:gone\n");
    }

    [Fact]
    public async Task RunAsync_LargeOutputOnBothStreams_DoesNotDeadlock()
    {
        // 4 MiB on each stream, far above a pipe's 64 KiB buffer.
        var result = await CreateSut().RunAsync(
            new CommandRequest("sh", "-c", "head -c 4194304 /dev/zero | tr '\\0' 'o'; head -c 4194304 /dev/zero | tr '\\0' 'e' >&2"),
            TestContext.Current.CancellationToken);

        result.StandardOutput.Length.Should().Be(4 * 1024 * 1024);
        result.StandardError.Length.Should().Be(4 * 1024 * 1024);
    }

    [Fact]
    public async Task RunAsync_LargeStandardInputThatChildIgnores_ReturnsExitCode()
    {
        var result = await CreateSut().RunAsync(
            new CommandRequest("true") { StandardInput = new string('x', 1024 * 1024) },
            TestContext.Current.CancellationToken);

        result.ExitCode.Should().Be(0);
    }

    [Fact]
    public async Task RunAsync_NonZeroExit_ThrowsWithCommandExitCodeAndStderr()
    {
        var act = () => CreateSut().RunAsync(
            new CommandRequest("sh", "-c", "echo out; echo 'it broke' >&2; exit 3") { StandardInput = "jit-secret" },
            TestContext.Current.CancellationToken);

        var thrown = await act.Should().ThrowAsync<CommandFailedException>();
        thrown.Which.ExitCode.Should().Be(3);
        thrown.Which.StandardOutput.Should().Be("out\n");
        thrown.Which.StandardError.Should().Be("it broke\n");
        thrown.Which.Message.Should().Contain("sh -c").And.Contain("code 3").And.Contain("it broke")
            .And.NotContain("jit-secret");
    }

    [Fact]
    public async Task RunAsync_MissingProgram_ThrowsCommandNotFound()
    {
        var act = () => CreateSut().RunAsync(
            new CommandRequest("/nonexistent/tart-missing", "list"),
            TestContext.Current.CancellationToken);

        var thrown = await act.Should().ThrowAsync<CommandNotFoundException>();
        thrown.Which.FileName.Should().Be("/nonexistent/tart-missing");
        thrown.Which.Message.Should().Contain("/nonexistent/tart-missing");
    }

    [Fact]
    public async Task RunAsync_Cancelled_KillsWholeProcessTree()
    {
        var marker = Path.Combine(Path.GetTempPath(), $"rb-tree-{Guid.NewGuid():N}");
        using var cts = new CancellationTokenSource();

        // The child starts a grandchild that writes its pid, then both sleep.
        var run = CreateSut().RunAsync(
            new CommandRequest("sh", "-c", $"sleep 300 & echo $! > {marker}; wait"),
            cts.Token);

        var grandchild = await WaitForPidAsync(marker);
        cts.CancelAfter(TimeSpan.FromMilliseconds(50));

        var act = () => run;
        await act.Should().ThrowAsync<OperationCanceledException>();
        (await WaitUntilGoneAsync(grandchild)).Should().BeTrue("the grandchild sleep must be killed with its parent");
        File.Delete(marker);
    }

    [Fact]
    public async Task RunAsync_AlreadyCancelled_StartsNothing()
    {
        var marker = Path.Combine(Path.GetTempPath(), $"rb-never-{Guid.NewGuid():N}");
        var act = () => CreateSut().RunAsync(new CommandRequest("touch", marker), new CancellationToken(canceled: true));

        await act.Should().ThrowAsync<OperationCanceledException>();
        File.Exists(marker).Should().BeFalse();
    }

    [Fact]
    public async Task RunStreamingAsync_ReportsEachLineAsItComes()
    {
        var lines = new List<string>();
        var progress = new SynchronousProgress(lines);

        var result = await CreateSut().RunStreamingAsync(
            new CommandRequest("sh", "-c", "echo one; echo two >&2; echo three"),
            progress,
            TestContext.Current.CancellationToken);

        lines.Should().BeEquivalentTo(["one", "two", "three"]);
        result.StandardOutput.Should().Be("one\nthree\n");
        result.StandardError.Should().Be("two\n");
    }

    [Fact]
    public async Task RunAsync_Logging_ShowsArgumentsButNeverStandardInput()
    {
        var logger = new FakeLogger<ProcessCommandRunner>();
        logger.ControlLevel(LogLevel.Debug, enabled: true);

        await CreateSut(logger).RunAsync(
            new CommandRequest("cat") { StandardInput = "jit-secret-value" },
            TestContext.Current.CancellationToken);

        var all = string.Join('\n', logger.Collector.GetSnapshot().Select(r => r.Message));
        all.Should().Contain("cat").And.NotContain("jit-secret-value");
    }

    private static async Task<int> WaitForPidAsync(string file)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (File.Exists(file) && int.TryParse((await File.ReadAllTextAsync(file)).Trim(), out var pid))
            {
                return pid;
            }

            await Task.Delay(20);
        }

        throw new TimeoutException("the grandchild never wrote its pid");
    }

    private static async Task<bool> WaitUntilGoneAsync(int pid)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            // A killed child may linger as a zombie until reaped; only a live process counts.
            var stat = $"/proc/{pid}/stat";
            if (!File.Exists(stat) || (await File.ReadAllTextAsync(stat)).Contains(") Z ", StringComparison.Ordinal))
            {
                return true;
            }

            await Task.Delay(20);
        }

        return false;
    }

    private sealed class SynchronousProgress(List<string> lines) : IProgress<string>
    {
        public void Report(string value)
        {
            lock (lines)
            {
                lines.Add(value);
            }
        }
    }
}
