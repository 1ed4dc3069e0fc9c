namespace RunnerHost.GitHub;

/// <summary>The owner runners are registered under, as the REST API's path prefix.</summary>
/// <param name="ApiPath">e.g. <c>orgs/acme</c>, <c>repos/acme/app</c> or <c>enterprises/acme</c>.</param>
public sealed record GitHubTarget(string ApiPath)
{
    /// <summary>Reads an organisation, repository or enterprise web URL.</summary>
    /// <param name="url">The URL, e.g. <c>https://github.com/acme/app</c>.</param>
    /// <returns>The target.</returns>
    /// <exception cref="ArgumentException">The URL is not one of those forms.</exception>
    public static GitHubTarget Parse(string? url)
    {
        if (!TryParse(url, out var target, out var problem))
        {
            throw new ArgumentException(problem, nameof(url));
        }

        return target;
    }

    /// <summary>Reads a URL, saying what is wrong instead of throwing.</summary>
    /// <param name="url">The URL.</param>
    /// <param name="target">The target when it is valid.</param>
    /// <param name="problem">What is wrong otherwise.</param>
    /// <returns>Whether the URL is valid.</returns>
    public static bool TryParse(string? url, out GitHubTarget target, out string problem)
    {
        target = null!;
        problem = string.Empty;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http"))
        {
            problem = $"GitHub:Url '{url}' is not an absolute http(s) URL of an organisation or repository (e.g. https://github.com/acme or https://github.com/acme/app).";
            return false;
        }

        var segments = uri.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Any(s => !s.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
        {
            problem = $"GitHub:Url '{url}' holds characters an owner or repository name cannot have.";
            return false;
        }

        switch (segments)
        {
            case ["enterprises", var enterprise]:
                target = new GitHubTarget($"enterprises/{enterprise}");
                return true;
            case [var org]:
                target = new GitHubTarget($"orgs/{org}");
                return true;
            case [var owner, var repo]:
                target = new GitHubTarget($"repos/{owner}/{(repo.EndsWith(".git", StringComparison.Ordinal) ? repo[..^4] : repo)}");
                return true;
            default:
                problem = $"GitHub:Url '{url}' must name an organisation (https://github.com/acme), a repository (https://github.com/acme/app) or an enterprise (https://github.com/enterprises/acme).";
                return false;
        }
    }
}
