namespace RunnerBackends.Tests;

public class RunnerNameTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("runner-1")]
    [InlineData("Runner_2.mac")]
    [InlineData("0abc")]
    public void IsValid_GoodName_ReturnsTrue(string name)
    {
        RunnerName.IsValid(name).Should().BeTrue();
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("-rm")]
    [InlineData("_x")]
    [InlineData(".hidden")]
    [InlineData("a b")]
    [InlineData("a/b")]
    [InlineData("a;b")]
    [InlineData("ä")]
    [InlineData("runner\n")]
    public void IsValid_BadName_ReturnsFalse(string? name)
    {
        RunnerName.IsValid(name).Should().BeFalse();
    }

    [Fact]
    public void IsValid_SixtyFourCharacters_ReturnsTrue()
    {
        RunnerName.IsValid(new string('a', 64)).Should().BeTrue();
        RunnerName.IsValid(new string('a', 65)).Should().BeFalse();
    }

    [Fact]
    public void ThrowIfInvalid_BadName_ThrowsWithRuleAndParameter()
    {
        var act = () => RunnerName.ThrowIfInvalid("--privileged", "runnerName");

        act.Should().Throw<ArgumentException>()
            .Where(e => e.ParamName == "runnerName")
            .WithMessage("*'--privileged'*letters, digits*");
    }
}
