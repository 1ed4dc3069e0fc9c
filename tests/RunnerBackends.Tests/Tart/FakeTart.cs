using System.Collections.Concurrent;
using Moq;

namespace RunnerBackends.Tests.Tart;

/// <summary>
/// An <see cref="ICommandRunner"/> mock that behaves like a healthy tart by default: clone creates the VM's directory and
/// config.json under <see cref="TartHome"/>, run blocks until stop (or cancellation), exec and delete succeed. Tests
/// override one command at a time through the handlers and read every call from <see cref="Calls"/>.
/// </summary>
internal sealed class FakeTart : IDisposable
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource<CommandResult>> _runs = new();

    public FakeTart()
    {
        TartHome = Path.Combine(Path.GetTempPath(), "rb-tart-unit-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(TartHome, "vms"));
        Mock.Setup(r => r.RunAsync(It.IsAny<CommandRequest>(), It.IsAny<CancellationToken>()))
            .Returns((CommandRequest request, CancellationToken ct) => Dispatch(request, ct));
        Mock.Setup(r => r.RunStreamingAsync(It.IsAny<CommandRequest>(), It.IsAny<IProgress<string>>(), It.IsAny<CancellationToken>()))
            .Returns((CommandRequest request, IProgress<string> output, CancellationToken ct) =>
            {
                Calls.Enqueue(request);
                return Pull?.Invoke(request, output, ct) ?? Task.FromResult(Ok());
            });
    }

    public Mock<ICommandRunner> Mock { get; } = new(MockBehavior.Strict);

    public string TartHome { get; }

    public ConcurrentQueue<CommandRequest> Calls { get; } = new();

    public Func<CommandRequest, CancellationToken, Task<CommandResult>>? Clone { get; set; }

    public Func<CommandRequest, CancellationToken, Task<CommandResult>>? Probe { get; set; }

    public Func<CommandRequest, CancellationToken, Task<CommandResult>>? Inject { get; set; }

    public Func<CommandRequest, CancellationToken, Task<CommandResult>>? WaitExit { get; set; }

    public Func<CommandRequest, CancellationToken, Task<CommandResult>>? Delete { get; set; }

    public Func<CommandRequest, CancellationToken, Task<CommandResult>>? Set { get; set; }

    /// <summary>When set, <c>tart run</c> fails at once with this stderr (exit 1).</summary>
    public string? RunFailure { get; set; }

    public string ListJson { get; set; } = "[]";

    public Func<CommandRequest, IProgress<string>, CancellationToken, Task<CommandResult>>? Pull { get; set; }

    public static CommandResult Ok(string stdout = "") => new(0, stdout, "");

    public static Task<CommandResult> Fail(CommandRequest request, int exitCode, string stderr) =>
        Task.FromException<CommandResult>(new CommandFailedException(request, new CommandResult(exitCode, "", stderr)));

    public IEnumerable<CommandRequest> Named(string verb) => Calls.Where(c => c.Arguments.Count > 0 && c.Arguments[0] == verb);

    public IEnumerable<CommandRequest> Probes => Calls.Where(c => c.Arguments is ["exec", _, "true"]);

    public IEnumerable<CommandRequest> Injections => Calls.Where(c => c.Arguments is ["exec", "-i", ..]);

    public IReadOnlyList<string> ExistingVms() =>
        [.. Directory.GetDirectories(Path.Combine(TartHome, "vms")).Select(Path.GetFileName).OfType<string>().Order()];

    public IReadOnlyList<string> RunningVms() => [.. _runs.Keys.Order()];

    /// <summary>Makes a VM's <c>tart run</c> exit, as when the guest powers off.</summary>
    public void Crash(string vm, int exitCode = 0)
    {
        if (_runs.TryRemove(vm, out var run))
        {
            run.TrySetResult(new CommandResult(exitCode, "", ""));
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(TartHome, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private Task<CommandResult> Dispatch(CommandRequest request, CancellationToken ct)
    {
        Calls.Enqueue(request);
        if (ct.IsCancellationRequested)
        {
            return Task.FromCanceled<CommandResult>(ct);
        }

        var args = request.Arguments;
        switch (args[0])
        {
            case "clone":
                if (Clone is not null)
                {
                    return Clone(request, ct);
                }

                CreateVm(args[2]);
                return Task.FromResult(Ok());
            case "set":
                return Set?.Invoke(request, ct) ?? Task.FromResult(Ok());
            case "run":
                return Run(request, args[1], ct);
            case "exec" when args.Count == 3 && args[2] == "true":
                return Probe?.Invoke(request, ct) ?? Task.FromResult(Ok());
            case "exec" when args[1] == "-i":
                return Inject?.Invoke(request, ct) ?? Task.FromResult(Ok());
            case "exec":
                return WaitExit?.Invoke(request, ct) ?? Task.FromResult(Ok("0\n"));
            case "stop":
                if (_runs.TryRemove(args[1], out var run))
                {
                    run.TrySetResult(Ok());
                    return Task.FromResult(Ok());
                }

                return Fail(request, 2, $"VM \"{args[1]}\" is not running");
            case "delete":
                if (Delete is not null)
                {
                    return Delete(request, ct);
                }

                var dir = Path.Combine(TartHome, "vms", args[1]);
                if (!Directory.Exists(dir))
                {
                    return Fail(request, 2, $"the specified VM \"{args[1]}\" does not exist");
                }

                Directory.Delete(dir, recursive: true);
                return Task.FromResult(Ok());
            case "list":
                return Task.FromResult(Ok(ListJson));
            case "prune":
                return Task.FromResult(Ok());
            default:
                throw new InvalidOperationException("unexpected tart call: " + request);
        }
    }

    private void CreateVm(string name)
    {
        var dir = Path.Combine(TartHome, "vms", name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), """{"version":1,"os":"darwin","cpuCount":4,"memorySize":8589934592,"macAddress":"7e:1c:f2:4a:78:30","display":{"width":1024,"height":768}}""");
    }

    private Task<CommandResult> Run(CommandRequest request, string vm, CancellationToken ct)
    {
        if (RunFailure is not null)
        {
            return Fail(request, 1, RunFailure);
        }

        var run = new TaskCompletionSource<CommandResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        _runs[vm] = run;
        ct.Register(() =>
        {
            _runs.TryRemove(vm, out _);
            run.TrySetCanceled(ct);
        });
        return run.Task;
    }
}
