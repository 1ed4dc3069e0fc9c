namespace RunnerHost.GitHub;

/// <summary>Where runners are registered and how (configuration section <c>GitHub</c>).</summary>
public sealed class GitHubOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "GitHub";

    /// <summary>
    /// The organisation or repository the runners serve, as its web URL: <c>https://github.com/acme</c>,
    /// <c>https://github.com/acme/app</c> or <c>https://github.com/enterprises/acme</c>.
    /// </summary>
    public string? Url { get; set; }

    /// <summary>The REST API's base URL: https://api.github.com, or <c>https://HOST/api/v3</c> for GitHub Enterprise Server.</summary>
    public Uri ApiUrl { get; set; } = new("https://api.github.com/");

    /// <summary>The environment variable that holds the token (default <c>GITHUB_TOKEN</c>). The token is never logged.</summary>
    public string TokenVariable { get; set; } = "GITHUB_TOKEN";

    /// <summary>The token itself when given in code (the demo, tests); otherwise read from <see cref="TokenVariable"/>.</summary>
    public string? Token { get; set; }

    /// <summary>The runner group new runners join (1 is the Default group).</summary>
    public int RunnerGroupId { get; set; } = 1;

    /// <summary>Labels of new runners (GitHub adds none: include <c>self-hosted</c> and the OS and architecture).</summary>
    public string[]? Labels { get; set; }

    /// <summary>
    /// Prefix of the names of runners this host registers; it is also how the host recognises its own leftovers on
    /// GitHub at start, so give each host its own. Default: <c>rh-</c> and the machine name.
    /// </summary>
    public string? NamePrefix { get; set; }

    /// <summary>How often runners' <c>busy</c> state is read from GitHub.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The longest the client waits before one retry (a far rate-limit reset is capped to this, then retried).</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How many times a request is retried on 5xx, 429 and rate-limit 403 answers.</summary>
    public int MaxRetries { get; set; } = 5;

    internal string[] EffectiveLabels => Labels is { Length: > 0 } labels ? labels : DefaultLabels();

    internal string EffectiveNamePrefix => string.IsNullOrEmpty(NamePrefix) ? DefaultNamePrefix() : NamePrefix;

    internal GitHubTarget Target => GitHubTarget.Parse(Url);

    internal static string DefaultNamePrefix()
    {
        var machine = new string([.. Environment.MachineName.ToLowerInvariant().Where(c => char.IsAsciiLetterOrDigit(c) || c == '-')]);
        return "rh-" + (machine.Length == 0 ? "host" : machine[..Math.Min(machine.Length, 30)]);
    }

    private static string[] DefaultLabels()
    {
        var os = OperatingSystem.IsMacOS() ? "macOS" : OperatingSystem.IsWindows() ? "windows" : "linux";
        var arch = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
        {
            System.Runtime.InteropServices.Architecture.Arm64 => "ARM64",
            _ => "X64",
        };
        return ["self-hosted", os, arch];
    }
}
