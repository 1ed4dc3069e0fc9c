namespace RunnerBackends.Tart.Internal;

/// <summary>
/// Learns how long this backend's VMs take to boot, so that readiness probes can cluster around the expected moment:
/// the first boot probes with plain capped exponential backoff; later boots probe densely (every
/// <c>ProbeInitialDelay</c>) in a short window around the boot time seen so far, which cuts the lag between the guest
/// agent becoming ready and the backend noticing, without adding probes elsewhere.
/// </summary>
internal sealed class BootClock
{
    // The dense window starts this long before the expected ready time and ends this long after it.
    private static readonly TimeSpan Lead = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan Trail = TimeSpan.FromMilliseconds(600);

    // The shortest delay a timer honours (see NextDelay).
    private static readonly TimeSpan MinimumDelay = TimeSpan.FromMilliseconds(1);

    private readonly Lock _lock = new();
    private TimeSpan? _expected;

    public TimeSpan? Expected
    {
        get
        {
            lock (_lock)
            {
                return _expected;
            }
        }
    }

    /// <summary>Records a boot: the agent became ready after the last failed probe began and before the successful one did.</summary>
    public void Observe(TimeSpan lastFailedProbe, TimeSpan successfulProbe)
    {
        // The midpoint of the bracket; an average over boots damps outliers.
        var sample = lastFailedProbe + ((successfulProbe - lastFailedProbe) / 2);
        lock (_lock)
        {
            _expected = _expected is { } e ? e + ((sample - e) * 0.3) : sample;
        }
    }

    /// <summary>
    /// The delay before the next probe, or <see langword="null"/> to keep the retry strategy's own (exponential, with
    /// jitter). <paramref name="elapsed"/> is the time since <c>tart run</c> started.
    /// </summary>
    public TimeSpan? NextDelay(TimeSpan elapsed, TimeSpan backoff, TimeSpan denseInterval)
    {
        if (Expected is not { } expected)
        {
            return null;
        }

        var windowStart = expected - Lead;
        var windowEnd = expected + Trail;
        if (elapsed >= windowStart && elapsed < windowEnd)
        {
            return denseInterval;
        }

        if (elapsed < windowStart && elapsed + backoff > windowStart)
        {
            // Land on the start of the window instead of jumping over it. Task.Delay rounds a delay below 1 ms down to
            // none, so a sub-millisecond wait would probe again at once, forever under a clock that does not move.
            var untilWindow = windowStart - elapsed;
            return untilWindow < MinimumDelay ? MinimumDelay : untilWindow;
        }

        return null;
    }
}
