using RunnerHost.GitHub;

namespace RunnerHost.Tests.GitHub;

public sealed class GitHubTargetTests
{
    [Theory]
    [InlineData("https://github.com/acme", "orgs/acme")]
    [InlineData("https://github.com/acme/", "orgs/acme")]
    [InlineData("https://github.com/acme/app", "repos/acme/app")]
    [InlineData("https://github.com/acme/app.git", "repos/acme/app")]
    [InlineData("https://github.com/enterprises/big", "enterprises/big")]
    [InlineData("https://ghe.example.com/acme/app", "repos/acme/app")]
    public void Parse_OrganisationRepositoryOrEnterpriseUrl_GivesTheApiPath(string url, string expected)
    {
        GitHubTarget.Parse(url).ApiPath.Should().Be(expected);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("acme/app")]
    [InlineData("ftp://github.com/acme")]
    [InlineData("https://github.com/")]
    [InlineData("https://github.com/a/b/c")]
    [InlineData("https://github.com/a%20b")]
    public void Parse_OtherText_ThrowsSayingWhatIsExpected(string? url)
    {
        var act = () => GitHubTarget.Parse(url);

        act.Should().Throw<ArgumentException>().WithMessage("*GitHub:Url*");
    }
}
