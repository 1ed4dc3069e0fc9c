using System.Net;
using System.Net.Http.Headers;
using RunnerHost.GitHub;

namespace RunnerHost.Tests.GitHub;

public sealed class GitHubResilienceTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void RateLimitDelay_RetryAfterSeconds_ReturnsThem()
    {
        using var response = CreateSut(HttpStatusCode.TooManyRequests);
        response.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(7));

        GitHubResilience.RateLimitDelay(response, Now).Should().Be(TimeSpan.FromSeconds(7));
    }

    [Fact]
    public void RateLimitDelay_NothingRemainingAndReset_WaitsUntilReset()
    {
        using var response = CreateSut(HttpStatusCode.Forbidden);
        response.Headers.Add("x-ratelimit-remaining", "0");
        response.Headers.Add("x-ratelimit-reset", (Now.ToUnixTimeSeconds() + 42).ToString(System.Globalization.CultureInfo.InvariantCulture));

        GitHubResilience.RateLimitDelay(response, Now).Should().Be(TimeSpan.FromSeconds(42));
    }

    [Fact]
    public void RateLimitDelay_RetryAfterAndReset_PrefersRetryAfter()
    {
        using var response = CreateSut(HttpStatusCode.Forbidden);
        response.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(3));
        response.Headers.Add("x-ratelimit-remaining", "0");
        response.Headers.Add("x-ratelimit-reset", (Now.ToUnixTimeSeconds() + 600).ToString(System.Globalization.CultureInfo.InvariantCulture));

        GitHubResilience.RateLimitDelay(response, Now).Should().Be(TimeSpan.FromSeconds(3));
    }

    [Fact]
    public void RateLimitDelay_ForbiddenWithRequestsRemaining_IsNotARateLimit()
    {
        using var response = CreateSut(HttpStatusCode.Forbidden);
        response.Headers.Add("x-ratelimit-remaining", "4999");
        response.Headers.Add("x-ratelimit-reset", (Now.ToUnixTimeSeconds() + 600).ToString(System.Globalization.CultureInfo.InvariantCulture));

        GitHubResilience.RateLimitDelay(response, Now).Should().BeNull();
        GitHubResilience.ShouldRetry(Polly.Outcome.FromResult(response), TimeProvider.System).Should().BeFalse();
    }

    [Fact]
    public void RateLimitDelay_ResetInThePast_IsZero()
    {
        using var response = CreateSut(HttpStatusCode.Forbidden);
        response.Headers.Add("x-ratelimit-remaining", "0");
        response.Headers.Add("x-ratelimit-reset", (Now.ToUnixTimeSeconds() - 5).ToString(System.Globalization.CultureInfo.InvariantCulture));

        GitHubResilience.RateLimitDelay(response, Now).Should().Be(TimeSpan.Zero);
    }

    [Theory]
    [InlineData(HttpStatusCode.InternalServerError, true)]
    [InlineData(HttpStatusCode.BadGateway, true)]
    [InlineData(HttpStatusCode.TooManyRequests, true)]
    [InlineData(HttpStatusCode.Conflict, false)]
    [InlineData(HttpStatusCode.NotFound, false)]
    [InlineData(HttpStatusCode.UnprocessableEntity, false)]
    public void ShouldRetry_ByStatus_RetriesOnlyTransientAnswers(HttpStatusCode status, bool expected)
    {
        using var response = CreateSut(status);

        GitHubResilience.ShouldRetry(Polly.Outcome.FromResult(response), TimeProvider.System).Should().Be(expected);
    }

    private static HttpResponseMessage CreateSut(HttpStatusCode status) => new(status);
}
