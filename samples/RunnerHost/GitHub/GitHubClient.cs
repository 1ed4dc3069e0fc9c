using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.Options;

namespace RunnerHost.GitHub;

/// <summary>
/// The slice of GitHub's REST API the keeper uses, for one organisation, repository or enterprise. Retries of 5xx and
/// rate-limit answers happen below it, in the HttpClient's resilience handler (<see cref="GitHubResilience"/>).
/// </summary>
public sealed class GitHubClient
{
    private readonly HttpClient _http;
    private readonly GitHubOptions _options;
    private readonly string _runnersPath;

    /// <summary>Creates the client over an HttpClient from IHttpClientFactory (base address, headers and resilience set there).</summary>
    /// <param name="http">The configured HttpClient.</param>
    /// <param name="options">Where to register and how.</param>
    public GitHubClient(HttpClient http, IOptions<GitHubOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _http = http;
        _options = options.Value;
        _runnersPath = $"{_options.Target.ApiPath}/actions/runners";
    }

    /// <summary>Registers a runner just in time (POST .../actions/runners/generate-jitconfig).</summary>
    /// <param name="name">The runner's name.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The registration and its JIT config.</returns>
    /// <exception cref="RunnerNameConflictException">409: the name is taken.</exception>
    /// <exception cref="GitHubApiException">Any other refusal (404 unknown owner or group, 403, 422, 5xx after retries).</exception>
    public async Task<JitRegistration> GenerateJitConfigAsync(string name, CancellationToken cancellationToken = default)
    {
        var request = new JitRequest { Name = name, RunnerGroupId = _options.RunnerGroupId, Labels = _options.EffectiveLabels };
        using var response = await _http.PostAsJsonAsync($"{_runnersPath}/generate-jitconfig", request, GitHubJson.Default.JitRequest, cancellationToken);
        if (response.StatusCode == HttpStatusCode.Conflict)
        {
            throw new RunnerNameConflictException(name, await MessageAsync(response, "register runner " + name, cancellationToken));
        }

        if (response.StatusCode != HttpStatusCode.Created)
        {
            throw new GitHubApiException(response.StatusCode, await MessageAsync(response, "register runner " + name, cancellationToken));
        }

        var body = await response.Content.ReadFromJsonAsync(GitHubJson.Default.JitResponse, cancellationToken);
        if (body?.Runner is null || string.IsNullOrEmpty(body.EncodedJitConfig))
        {
            throw new GitHubApiException(response.StatusCode, $"GitHub answered 201 to the registration of {name} without a runner or JIT config.");
        }

        return new JitRegistration(body.Runner, body.EncodedJitConfig);
    }

    /// <summary>Lists every runner of the owner (all pages).</summary>
    /// <param name="cancellationToken">Cancels the requests.</param>
    /// <returns>The runners.</returns>
    /// <exception cref="GitHubApiException">GitHub refused.</exception>
    public async Task<IReadOnlyList<GitHubRunner>> ListRunnersAsync(CancellationToken cancellationToken = default)
    {
        var all = new List<GitHubRunner>();
        for (var page = 1; ; page++)
        {
            var list = await GetListAsync($"{_runnersPath}?per_page=100&page={page}", cancellationToken);
            all.AddRange(list.Runners);
            if (list.Runners.Count < 100 || all.Count >= list.TotalCount)
            {
                return all;
            }
        }
    }

    /// <summary>Finds a runner by its exact name (GET .../actions/runners?name=).</summary>
    /// <param name="name">The name.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>The runner, or null when there is none.</returns>
    public async Task<GitHubRunner?> FindRunnerAsync(string name, CancellationToken cancellationToken = default)
    {
        var list = await GetListAsync($"{_runnersPath}?name={Uri.EscapeDataString(name)}&per_page=100", cancellationToken);
        return list.Runners.FirstOrDefault(r => r.Name == name);
    }

    /// <summary>Deletes a registration (DELETE .../actions/runners/{id}).</summary>
    /// <param name="runnerId">The runner's id.</param>
    /// <param name="cancellationToken">Cancels the request.</param>
    /// <returns>Deleted (204), NotFound (404: already gone) or Busy (422: running a job).</returns>
    /// <exception cref="GitHubApiException">Any other answer.</exception>
    public async Task<DeleteOutcome> DeleteRunnerAsync(long runnerId, CancellationToken cancellationToken = default)
    {
        using var response = await _http.DeleteAsync($"{_runnersPath}/{runnerId}", cancellationToken);
        return response.StatusCode switch
        {
            HttpStatusCode.NoContent or HttpStatusCode.OK => DeleteOutcome.Deleted,
            HttpStatusCode.NotFound => DeleteOutcome.NotFound,
            HttpStatusCode.UnprocessableEntity => DeleteOutcome.Busy,
            _ => throw new GitHubApiException(response.StatusCode, await MessageAsync(response, $"delete runner {runnerId}", cancellationToken)),
        };
    }

    private async Task<RunnerList> GetListAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(path, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new GitHubApiException(response.StatusCode, await MessageAsync(response, "list runners", cancellationToken));
        }

        return await response.Content.ReadFromJsonAsync(GitHubJson.Default.RunnerList, cancellationToken) ?? new RunnerList();
    }

    private async Task<string> MessageAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        string? message = null;
        try
        {
            message = (await response.Content.ReadFromJsonAsync(GitHubJson.Default.ErrorBody, cancellationToken))?.Message;
        }
        catch (System.Text.Json.JsonException)
        {
        }

        var hint = response.StatusCode switch
        {
            HttpStatusCode.Unauthorized => " Check the token.",
            HttpStatusCode.NotFound => $" Check GitHub:Url ({_options.Url}), GitHub:RunnerGroupId ({_options.RunnerGroupId}) and that the token may manage self-hosted runners there.",
            HttpStatusCode.Forbidden => " The token may lack the permission (organisation: Self-hosted runners write; repository: Administration write), or a rate limit was hit.",
            _ => string.Empty,
        };
        return $"GitHub answered {(int)response.StatusCode} to '{what}': {message ?? response.ReasonPhrase}.{hint}";
    }
}
