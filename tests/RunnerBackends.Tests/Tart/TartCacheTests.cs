using Moq;
using RunnerBackends.Tart;

namespace RunnerBackends.Tests.Tart;

public class TartCacheTests
{
    private readonly Mock<ICommandRunner> _runner = new();
    private readonly List<CommandRequest> _calls = [];

    public TartCacheTests()
    {
        _runner.Setup(r => r.RunAsync(It.IsAny<CommandRequest>(), It.IsAny<CancellationToken>()))
            .Callback((CommandRequest request, CancellationToken _) => _calls.Add(request))
            .ReturnsAsync(new CommandResult(0, "", ""));
    }

    [Theory]
    [InlineData(10.9, 0, new[] { "prune", "--entries", "caches", "--older-than", "10" })]
    [InlineData(0.2, 0, new[] { "prune", "--entries", "caches", "--older-than", "1" })]
    [InlineData(0, 50, new[] { "prune", "--entries", "caches", "--space-budget", "50" })]
    [InlineData(7, 100, new[] { "prune", "--entries", "caches", "--older-than", "7", "--space-budget", "100" })]
    public async Task PruneAsync_Criteria_PassedAsWholeDaysAndGigabytes(double days, int budget, string[] expected)
    {
        await CreateSut(TimeSpan.FromDays(days), budget);

        _calls.Should().ContainSingle().Which.Arguments.Should().Equal(expected);
        _calls[0].Environment!["TART_HOME"].Should().Be("/tmp/tart-home");
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(-1, -5)]
    public async Task PruneAsync_NoCriterion_DoesNothing(double days, int budget)
    {
        await CreateSut(TimeSpan.FromDays(days), budget);

        _calls.Should().BeEmpty();
    }

    [Fact]
    public async Task PruneAsync_TartFails_ErrorCarriesStderr()
    {
        _runner.Setup(r => r.RunAsync(It.IsAny<CommandRequest>(), It.IsAny<CancellationToken>()))
            .Returns((CommandRequest request, CancellationToken _) =>
                Task.FromException<CommandResult>(new CommandFailedException(request, new CommandResult(1, "", "permission denied"))));

        var act = () => CreateSut(TimeSpan.FromDays(1), 0);

        (await act.Should().ThrowAsync<RunnerBackendException>()).Which.Message.Should().Contain("permission denied");
    }

    private Task CreateSut(TimeSpan maxAge, int budget) =>
        TartCache.PruneAsync(
            new TartBackendOptions { TartHome = "/tmp/tart-home" },
            maxAge,
            budget,
            logger: null,
            _runner.Object,
            TestContext.Current.CancellationToken);
}
