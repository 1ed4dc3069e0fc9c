namespace FakeGitHub;

/// <summary>How the fake GitHub behaves: credentials, runner groups, rate limits and simulated jobs.</summary>
public sealed class FakeGitHubOptions
{
    /// <summary>The token a request must carry as <c>Authorization: Bearer ...</c> (or <c>token ...</c>); others get 401.</summary>
    public string Token { get; set; } = "fake-github-token";

    /// <summary>Runner group ids that exist; generate-jitconfig with another id answers 404, as GitHub does.</summary>
    public IList<int> RunnerGroupIds { get; } = [1];

    /// <summary>Requests allowed per rate-limit window before GitHub's primary limit answers 403.</summary>
    public int RateLimit { get; set; } = 5000;

    /// <summary>Length of the primary rate-limit window (GitHub's is an hour).</summary>
    public TimeSpan RateLimitWindow { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// How long after its registration a runner can be handed a job. <see langword="null"/> turns the job simulation
    /// off: runners stay idle unless a test calls <see cref="FakeGitHubServer.StartJob"/>.
    /// </summary>
    public TimeSpan? JobPickupDelay { get; set; }

    /// <summary>At most one simulated job starts per interval (so that idle runners stay idle for a while).</summary>
    public TimeSpan JobInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a simulated job keeps its runner busy. When it ends, the runner's registration disappears, as an
    /// ephemeral runner deregisters itself after its one job.
    /// </summary>
    public TimeSpan JobDuration { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Makes the <c>encoded_jit_config</c> of a registration (null: a base64 JSON map of runner files with a random
    /// credential, shaped like GitHub's). Tests use it to steer a fake runner image; keep a random part, it is a secret.
    /// </summary>
    public Func<FakeRunner, string>? JitConfigFactory { get; set; }
}
