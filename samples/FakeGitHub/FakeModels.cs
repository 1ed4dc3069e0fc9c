using System.Net;

namespace FakeGitHub;

/// <summary>A runner registration as the fake holds it.</summary>
/// <param name="Id">The runner id GitHub assigned.</param>
/// <param name="Name">The runner's name.</param>
/// <param name="Scope">The owner path the runner was registered under (e.g. <c>orgs/acme</c> or <c>repos/acme/app</c>).</param>
/// <param name="RunnerGroupId">The runner group.</param>
/// <param name="Labels">The labels sent at registration.</param>
/// <param name="Busy">Whether a job runs on it.</param>
/// <param name="JobsRun">How many jobs it has been handed (0 or 1 for an ephemeral runner).</param>
public sealed record FakeRunner(long Id, string Name, string Scope, int RunnerGroupId, IReadOnlyList<string> Labels, bool Busy, int JobsRun);

/// <summary>One request the fake answered (the Authorization header and request bodies are not kept).</summary>
/// <param name="At">When it arrived (server clock).</param>
/// <param name="Method">HTTP method.</param>
/// <param name="Path">Path and query.</param>
/// <param name="Status">The status code answered.</param>
/// <param name="RunnerName">For generate-jitconfig, the name asked for.</param>
public sealed record FakeRequest(DateTimeOffset At, string Method, string Path, int Status, string? RunnerName);

/// <summary>An answer to force on the next request that matches, whatever the state.</summary>
/// <param name="Status">The status code to answer.</param>
/// <param name="Method">Only requests with this method match (null: any).</param>
/// <param name="PathContains">Only requests whose path contains this text match (null: any).</param>
public sealed record FakeFault(HttpStatusCode Status, string? Method = null, string? PathContains = null)
{
    /// <summary>The <c>retry-after</c> header to send, in seconds (null: none).</summary>
    public int? RetryAfterSeconds { get; init; }

    /// <summary>
    /// Marks the answer as GitHub's primary rate limit: <c>x-ratelimit-remaining: 0</c> and
    /// <c>x-ratelimit-reset</c> this far ahead.
    /// </summary>
    public TimeSpan? RateLimitResetAfter { get; init; }

    /// <summary>For a fault on generate-jitconfig: register the runner anyway before answering (a lost 201).</summary>
    public bool RegisterAnyway { get; init; }

    /// <summary>A 429 secondary rate limit with <c>retry-after</c>.</summary>
    public static FakeFault TooManyRequests(int retryAfterSeconds, string? method = null, string? pathContains = null) =>
        new(HttpStatusCode.TooManyRequests, method, pathContains) { RetryAfterSeconds = retryAfterSeconds };

    /// <summary>A 403 primary rate limit that lifts at <c>x-ratelimit-reset</c>.</summary>
    public static FakeFault RateLimited(TimeSpan resetAfter, string? method = null, string? pathContains = null) =>
        new(HttpStatusCode.Forbidden, method, pathContains) { RateLimitResetAfter = resetAfter };
}
