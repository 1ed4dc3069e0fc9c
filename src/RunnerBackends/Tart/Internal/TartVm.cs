namespace RunnerBackends.Tart.Internal;

/// <summary>One VM this backend created: its name, its slot, its <c>tart run</c> child and where it is in its life.</summary>
internal sealed class TartVm
{
    private readonly Action<int> _releaseSlot;
    private readonly TaskCompletionSource _claimed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _slotReleased;
    private int _state;

    public TartVm(string name, bool pooled, Action<int> releaseSlot)
    {
        Name = name;
        Pooled = pooled;
        _releaseSlot = releaseSlot;
    }

    public string Name { get; }

    /// <summary>The slot index, or -1 until one is assigned.</summary>
    public int Slot { get; private set; } = -1;

    public Lock Gate { get; } = new();

    public bool Pooled { get; }

    /// <summary>Cancels the <c>tart run</c> child (kills it, and with it the VM).</summary>
    public CancellationTokenSource RunCancellation { get; } = new();

    /// <summary>Completes (never faults) when <c>tart run</c> has exited, that is when the VM stopped.
    /// <see cref="Task.CompletedTask"/> until <c>tart run</c> was started.</summary>
    public Task RunExited { get; set; } = Task.CompletedTask;

    public bool RunStarted { get; set; }

    /// <summary>Whether <c>tart clone</c> may have created the VM on disk (so removal must delete it).</summary>
    public bool MayExistOnDisk { get; set; }

    /// <summary>What <c>tart run</c> wrote to standard error when it failed.</summary>
    public string? RunError { get; set; }

    public long RunStartedTimestamp { get; set; }

    /// <summary>Completes when a runner start took this pooled VM (or it was given up).</summary>
    public Task Claimed => _claimed.Task;

    public VmState State => (VmState)Volatile.Read(ref _state);

    /// <summary>The removal in progress or done; reset when a removal failed, so that it can be retried.</summary>
    public Task? Removal { get; set; }

    /// <summary>Whether the runner start that uses this VM succeeded (removal then counts it as removed).</summary>
    public bool CountedAsRunning { get; set; }

    public bool TryMove(VmState from, VmState to)
    {
        var moved = Interlocked.CompareExchange(ref _state, (int)to, (int)from) == (int)from;
        if (moved && from == VmState.Idle)
        {
            _claimed.TrySetResult();
        }

        return moved;
    }

    public void MoveTo(VmState state)
    {
        Volatile.Write(ref _state, (int)state);
        _claimed.TrySetResult();
    }

    public void AssignSlot(int slot) => Slot = slot;

    /// <summary>Gives the slot back once; later calls (and calls before a slot was assigned) do nothing.</summary>
    public void ReleaseSlot()
    {
        if (Slot >= 0 && Interlocked.Exchange(ref _slotReleased, 1) == 0)
        {
            _releaseSlot(Slot);
        }
    }
}

internal enum VmState
{
    Booting,
    Idle,
    InUse,
    Removing,
}
