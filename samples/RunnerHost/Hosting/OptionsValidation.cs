using Microsoft.Extensions.Options;
using RunnerBackends;
using RunnerHost.GitHub;
using RunnerHost.Keeper;

namespace RunnerHost.Hosting;

/// <summary>Checks the keeper's and GitHub's settings at start, listing every problem at once.</summary>
internal sealed class KeeperOptionsValidation : IValidateOptions<KeeperOptions>, IValidateOptions<GitHubOptions>
{
    public ValidateOptionsResult Validate(string? name, KeeperOptions options)
    {
        var problems = options.Validate().ToList();
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    public ValidateOptionsResult Validate(string? name, GitHubOptions options)
    {
        var problems = new List<string>();
        if (!GitHubTarget.TryParse(options.Url, out _, out var problem))
        {
            problems.Add(problem);
        }

        if (!options.ApiUrl.IsAbsoluteUri || options.ApiUrl.Scheme is not ("https" or "http"))
        {
            problems.Add($"GitHub:ApiUrl '{options.ApiUrl}' must be an absolute http(s) URL (https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server).");
        }

        if (string.IsNullOrWhiteSpace(options.Token))
        {
            problems.Add($"No GitHub token: set the environment variable {options.TokenVariable} (GitHub:TokenVariable names it) to a token that may manage self-hosted runners.");
        }

        if (options.RunnerGroupId < 1)
        {
            problems.Add($"GitHub:RunnerGroupId must be 1 or more (was {options.RunnerGroupId}).");
        }

        if (options.Labels is { Length: > 100 } || options.Labels?.Any(string.IsNullOrWhiteSpace) == true)
        {
            problems.Add("GitHub:Labels must hold 1 to 100 non-empty labels.");
        }

        // The prefix plus "-" and 8 hex digits must still be a valid runner name.
        if (!RunnerName.IsValid(options.EffectiveNamePrefix + "-0123abcd"))
        {
            problems.Add($"GitHub:NamePrefix '{options.NamePrefix}' must be up to 55 letters, digits, '-', '_' or '.', starting with a letter or digit.");
        }

        if (options.PollInterval < TimeSpan.FromSeconds(0.1) || options.MaxRetries < 0 || options.MaxRetryDelay <= TimeSpan.Zero)
        {
            problems.Add("GitHub:PollInterval must be at least 100 ms, GitHub:MaxRetries 0 or more and GitHub:MaxRetryDelay positive.");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
