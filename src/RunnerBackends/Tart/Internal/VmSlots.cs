namespace RunnerBackends.Tart.Internal;

/// <summary>
/// The VM slots of one backend: at most <c>count</c> VMs run at once, and each running VM holds a distinct index
/// (the lowest free one), from which its stable MAC address is made.
/// </summary>
internal sealed class VmSlots : IDisposable
{
    private readonly SemaphoreSlim _available;
    private readonly bool[] _used;

    public VmSlots(int count)
    {
        _available = new SemaphoreSlim(count, count);
        _used = new bool[count];
    }

    public int Capacity => _used.Length;

    public int InUse
    {
        get
        {
            lock (_used)
            {
                return _used.Count(u => u);
            }
        }
    }

    public async Task<int> AcquireAsync(CancellationToken cancellationToken)
    {
        await _available.WaitAsync(cancellationToken).ConfigureAwait(false);
        return TakeLowest();
    }

    public bool TryAcquire(out int slot)
    {
        if (_available.Wait(0, CancellationToken.None))
        {
            slot = TakeLowest();
            return true;
        }

        slot = -1;
        return false;
    }

    public void Release(int slot)
    {
        lock (_used)
        {
            if (!_used[slot])
            {
                throw new InvalidOperationException($"VM slot {slot} was released twice.");
            }

            _used[slot] = false;
        }

        _available.Release();
    }

    public void Dispose() => _available.Dispose();

    /// <summary>The MAC address of a slot: locally administered, unicast, stable across VMs.</summary>
    public static string MacAddress(int slot) => $"02:00:00:00:00:{slot + 1:x2}";

    private int TakeLowest()
    {
        lock (_used)
        {
            var slot = Array.IndexOf(_used, false);
            _used[slot] = true;
            return slot;
        }
    }
}
