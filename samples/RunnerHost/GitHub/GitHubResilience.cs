using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace RunnerHost.GitHub;

/// <summary>
/// Registers <see cref="GitHubClient"/> as a typed HttpClient with GitHub's headers and a resilience handler:
/// retries of 5xx, 408, 429 and rate-limited 403 answers, waiting as long as <c>retry-after</c> says, else until
/// <c>x-ratelimit-reset</c>, else an exponential backoff with jitter; and a per-attempt timeout.
/// </summary>
internal static class GitHubResilience
{
    public static IHttpClientBuilder AddGitHubClient(this IServiceCollection services)
    {
        var builder = services.AddHttpClient<GitHubClient>((provider, http) =>
        {
            var options = provider.GetRequiredService<IOptions<GitHubOptions>>().Value;
            var baseUrl = options.ApiUrl.ToString();
            http.BaseAddress = new Uri(baseUrl.EndsWith('/') ? baseUrl : baseUrl + "/");
            http.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/vnd.github+json"));
            http.DefaultRequestHeaders.Add("X-GitHub-Api-Version", "2022-11-28");
            http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("RunnerBackends-RunnerHost", "1.0"));
            // The token lives in this header only; HttpClient's logging does not write header values.
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
            // Retries (and their waits) run inside the handler; the per-attempt timeout bounds each try.
            http.Timeout = Timeout.InfiniteTimeSpan;
        });

        builder.AddResilienceHandler("github", (pipeline, context) =>
        {
            var options = context.ServiceProvider.GetRequiredService<IOptions<GitHubOptions>>().Value;
            var time = context.ServiceProvider.GetRequiredService<TimeProvider>();
            pipeline.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromSeconds(1),
                MaxDelay = options.MaxRetryDelay,
                ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Outcome, time)),
                DelayGenerator = args => ValueTask.FromResult(
                    args.Outcome.Result is { } response && RateLimitDelay(response, time.GetUtcNow()) is { } delay
                        ? (TimeSpan?)(delay > options.MaxRetryDelay ? options.MaxRetryDelay : delay)
                        : null),
            });
            pipeline.AddTimeout(TimeSpan.FromSeconds(30));
        });
        return builder;
    }

    internal static bool ShouldRetry(Outcome<HttpResponseMessage> outcome, TimeProvider time)
    {
        if (HttpClientResiliencePredicates.IsTransient(outcome))
        {
            return true;
        }

        // A 403 is a rate limit only when GitHub says so; otherwise it is a permission problem that no retry fixes.
        return outcome.Result is { StatusCode: HttpStatusCode.Forbidden } response && RateLimitDelay(response, time.GetUtcNow()) is not null;
    }

    /// <summary>How long GitHub asks to wait: retry-after first, else until x-ratelimit-reset when nothing remains.</summary>
    internal static TimeSpan? RateLimitDelay(HttpResponseMessage response, DateTimeOffset now)
    {
        if (response.StatusCode is not (HttpStatusCode.Forbidden or HttpStatusCode.TooManyRequests))
        {
            return null;
        }

        if (response.Headers.RetryAfter is { } retryAfter)
        {
            var delay = retryAfter.Delta ?? (retryAfter.Date is { } date ? date - now : TimeSpan.Zero);
            return delay < TimeSpan.Zero ? TimeSpan.Zero : delay;
        }

        if (Header(response, "x-ratelimit-remaining") == "0" &&
            long.TryParse(Header(response, "x-ratelimit-reset"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var reset))
        {
            var delay = DateTimeOffset.FromUnixTimeSeconds(reset) - now;
            return delay < TimeSpan.Zero ? TimeSpan.Zero : delay;
        }

        return null;
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;
}
