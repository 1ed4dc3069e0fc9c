using RunnerBackends.Tart.Internal;

namespace RunnerBackends.Tests.Tart.Internal;

public class VmSlotsTests
{
    [Fact]
    public async Task AcquireAsync_LowestFreeIndexFirst()
    {
        using var sut = new VmSlots(3);

        var a = await sut.AcquireAsync(TestContext.Current.CancellationToken);
        var b = await sut.AcquireAsync(TestContext.Current.CancellationToken);
        sut.Release(a);
        var c = await sut.AcquireAsync(TestContext.Current.CancellationToken);

        (a, b, c).Should().Be((0, 1, 0));
        sut.InUse.Should().Be(2);
    }

    [Fact]
    public void TryAcquire_AllTaken_False()
    {
        using var sut = new VmSlots(1);

        sut.TryAcquire(out _).Should().BeTrue();
        sut.TryAcquire(out var slot).Should().BeFalse();
        slot.Should().Be(-1);
    }

    [Fact]
    public void Release_Twice_Throws()
    {
        using var sut = new VmSlots(1);
        sut.TryAcquire(out var slot);
        sut.Release(slot);

        FluentActions.Invoking(() => sut.Release(slot)).Should().Throw<InvalidOperationException>();
    }

    [Theory]
    [InlineData(0, "02:00:00:00:00:01")]
    [InlineData(1, "02:00:00:00:00:02")]
    [InlineData(15, "02:00:00:00:00:10")]
    public void MacAddress_SlotPlusOneInHex(int slot, string expected)
    {
        VmSlots.MacAddress(slot).Should().Be(expected);
    }
}
