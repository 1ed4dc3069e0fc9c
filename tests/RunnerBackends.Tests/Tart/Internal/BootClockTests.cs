using RunnerBackends.Tart.Internal;

namespace RunnerBackends.Tests.Tart.Internal;

public class BootClockTests
{
    private static readonly TimeSpan Backoff = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Dense = TimeSpan.FromMilliseconds(150);

    [Fact]
    public void NextDelay_NoBootSeen_KeepsTheRetryStrategysDelay()
    {
        new BootClock().NextDelay(TimeSpan.FromSeconds(2), Backoff, Dense).Should().BeNull();
    }

    [Fact]
    public void NextDelay_InsideWindowAroundExpectedBoot_Dense()
    {
        var sut = new BootClock();
        sut.Observe(TimeSpan.FromSeconds(2.9), TimeSpan.FromSeconds(3.1));

        sut.NextDelay(TimeSpan.FromSeconds(2.9), Backoff, Dense).Should().Be(Dense);
        sut.NextDelay(TimeSpan.FromSeconds(3.5), Backoff, Dense).Should().Be(Dense);
    }

    [Fact]
    public void NextDelay_BackoffWouldJumpOverWindow_LandsOnItsStart()
    {
        var sut = new BootClock();
        sut.Observe(TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(3));

        sut.NextDelay(TimeSpan.FromSeconds(2.2), Backoff, Dense).Should().Be(TimeSpan.FromSeconds(0.55));
    }

    [Fact]
    public void NextDelay_LessThanAMillisecondBeforeWindow_WaitsAtLeastOneMillisecond()
    {
        // Task.Delay treats a delay below 1 ms as none: a shorter wait would re-probe at once, in a loop, while the
        // clock stands still (seen under FakeTimeProvider as millions of probes a second).
        var sut = new BootClock();
        sut.Observe(TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(3));
        var justBefore = TimeSpan.FromSeconds(2.75) - TimeSpan.FromTicks(10);

        sut.NextDelay(justBefore, Backoff, Dense).Should().Be(TimeSpan.FromMilliseconds(1));
    }

    [Fact]
    public void NextDelay_FarFromWindow_KeepsTheRetryStrategysDelay()
    {
        var sut = new BootClock();
        sut.Observe(TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(3));

        sut.NextDelay(TimeSpan.FromSeconds(0.5), Backoff, Dense).Should().BeNull();
        sut.NextDelay(TimeSpan.FromSeconds(10), Backoff, Dense).Should().BeNull();
    }

    [Fact]
    public void Observe_Repeated_MovesTowardsNewBootTimes()
    {
        var sut = new BootClock();
        sut.Observe(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(10));

        for (var i = 0; i < 20; i++)
        {
            sut.Observe(TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(4));
        }

        sut.Expected!.Value.Should().BeCloseTo(TimeSpan.FromSeconds(4), TimeSpan.FromMilliseconds(50));
    }
}
