using RunnerBackends.Tart.Internal;

namespace RunnerBackends.Tests.Tart.Internal;

public class VmNamesTests
{
    [Fact]
    public void ForRunner_ShortName_PrefixDashName()
    {
        VmNames.ForRunner("rb", "runner-1").Should().Be("rb-runner-1");
    }

    [Fact]
    public void ForRunner_TooLong_CutWithHashDeterministicAndDistinct()
    {
        var a = new string('a', 60) + "-1";
        var b = new string('a', 60) + "-2";

        var nameA = VmNames.ForRunner("runnerbackends", a);
        var nameB = VmNames.ForRunner("runnerbackends", b);

        nameA.Length.Should().Be(64);
        RunnerName.IsValid(nameA).Should().BeTrue();
        nameA.Should().NotBe(nameB);
        VmNames.ForRunner("runnerbackends", a).Should().Be(nameA);
    }

    [Fact]
    public void ForRunner_LongestPrefixAndName_StaysValid()
    {
        var name = VmNames.ForRunner(new string('p', 32), new string('n', 64));

        RunnerName.IsValid(name).Should().BeTrue();
        name.Should().StartWith(new string('p', 32) + "-");
    }

    [Fact]
    public void ForPool_HasPrefixPoolInstanceAndCounter()
    {
        VmNames.ForPool("rb", "a1b2c3", 7).Should().Be("rb-pool-a1b2c3-7");
        RunnerName.IsValid(VmNames.ForPool(new string('p', 32), "a1b2c3", long.MaxValue)).Should().BeTrue();
    }

    [Theory]
    [InlineData("rb-x", true)]
    [InlineData("rb-", false)]
    [InlineData("rbx-1", false)]
    [InlineData("rb", false)]
    public void HasPrefix_RequiresPrefixAndDash(string name, bool expected)
    {
        VmNames.HasPrefix(name, "rb").Should().Be(expected);
    }

    [Fact]
    public void NewInstanceId_SixHexDigitsAndVaries()
    {
        var ids = Enumerable.Range(0, 20).Select(_ => VmNames.NewInstanceId()).ToList();

        ids.Should().OnlyContain(id => id.Length == 6 && id.All(char.IsAsciiHexDigitLower));
        ids.Distinct().Should().HaveCountGreaterThan(1);
    }
}
