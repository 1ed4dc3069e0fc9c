using System.Net;
using System.Text.Json.Serialization;

namespace RunnerHost.GitHub;

/// <summary>A self-hosted runner as GitHub lists it.</summary>
public sealed class GitHubRunner
{
    /// <summary>The runner's id.</summary>
    [JsonPropertyName("id")]
    public long Id { get; init; }

    /// <summary>The runner's name.</summary>
    [JsonPropertyName("name")]
    public string Name { get; init; } = string.Empty;

    /// <summary><c>online</c> or <c>offline</c>.</summary>
    [JsonPropertyName("status")]
    public string? Status { get; init; }

    /// <summary>Whether the runner is running a job.</summary>
    [JsonPropertyName("busy")]
    public bool Busy { get; init; }
}

/// <summary>A runner registered just in time, with the configuration it starts with.</summary>
/// <param name="Runner">The registration.</param>
/// <param name="EncodedJitConfig">The runner's JIT configuration: a secret, handed to the backend only.</param>
public sealed record JitRegistration(GitHubRunner Runner, string EncodedJitConfig)
{
    /// <inheritdoc />
    public override string ToString() => $"JitRegistration {{ Runner = {Runner.Name} ({Runner.Id}) }}";
}

/// <summary>What DELETE of a registration found.</summary>
public enum DeleteOutcome
{
    /// <summary>204: removed.</summary>
    Deleted,

    /// <summary>404: already gone (an ephemeral runner deregisters itself after its job).</summary>
    NotFound,

    /// <summary>422: GitHub refused, typically because the runner is running a job.</summary>
    Busy,
}

/// <summary>A GitHub answer the client does not turn into a result.</summary>
public class GitHubApiException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="status">The status code.</param>
    /// <param name="message">What failed, with GitHub's message.</param>
    public GitHubApiException(HttpStatusCode status, string message)
        : base(message) => Status = status;

    /// <summary>The status code GitHub answered.</summary>
    public HttpStatusCode Status { get; }
}

/// <summary>409: a runner with that name is already registered.</summary>
/// <param name="name">The name that is taken.</param>
/// <param name="message">GitHub's message.</param>
public sealed class RunnerNameConflictException(string name, string message) : GitHubApiException(HttpStatusCode.Conflict, message)
{
    /// <summary>The name that is taken.</summary>
    public string Name { get; } = name;
}

[JsonSerializable(typeof(GitHubRunner))]
[JsonSerializable(typeof(RunnerList))]
[JsonSerializable(typeof(JitResponse))]
[JsonSerializable(typeof(JitRequest))]
[JsonSerializable(typeof(ErrorBody))]
internal sealed partial class GitHubJson : JsonSerializerContext;

internal sealed class RunnerList
{
    [JsonPropertyName("total_count")]
    public int TotalCount { get; init; }

    [JsonPropertyName("runners")]
    public List<GitHubRunner> Runners { get; init; } = [];
}

internal sealed class JitResponse
{
    [JsonPropertyName("runner")]
    public GitHubRunner? Runner { get; init; }

    [JsonPropertyName("encoded_jit_config")]
    public string? EncodedJitConfig { get; init; }
}

internal sealed class JitRequest
{
    [JsonPropertyName("name")]
    public required string Name { get; init; }

    [JsonPropertyName("runner_group_id")]
    public required int RunnerGroupId { get; init; }

    [JsonPropertyName("labels")]
    public required string[] Labels { get; init; }
}

internal sealed class ErrorBody
{
    [JsonPropertyName("message")]
    public string? Message { get; init; }
}
