using System.Diagnostics.CodeAnalysis;

namespace RunnerBackends;

/// <summary>
/// The one rule every backend applies to runner names: 1 to 64 characters of ASCII letters, digits,
/// <c>-</c>, <c>_</c> and <c>.</c>, starting with a letter or digit. Such a name cannot be read as a
/// command-line option, cannot hold a path or white space, and is accepted by Docker and GitHub.
/// </summary>
public static class RunnerName
{
    /// <summary>The longest name allowed.</summary>
    public const int MaxLength = 64;

    /// <summary>Returns whether <paramref name="name"/> follows the runner-name rule.</summary>
    /// <param name="name">The name to check.</param>
    /// <returns><see langword="true"/> when the name can be used.</returns>
    public static bool IsValid([NotNullWhen(true)] string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxLength || !char.IsAsciiLetterOrDigit(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '_' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Throws an <see cref="ArgumentException"/> that says what is wrong when <paramref name="name"/> breaks the rule.</summary>
    /// <param name="name">The name to check.</param>
    /// <param name="paramName">The parameter the name came from.</param>
    /// <exception cref="ArgumentException">The name breaks the rule.</exception>
    public static void ThrowIfInvalid([NotNull] string? name, string paramName = "name")
    {
        if (IsValid(name))
        {
            return;
        }

        var shown = name is null ? "null" : $"'{Truncate(name)}'";
        throw new ArgumentException(
            $"Runner name {shown} is not valid: use 1 to {MaxLength} characters of letters, digits, '-', '_' and '.', starting with a letter or digit.",
            paramName);
    }

    private static string Truncate(string value) => value.Length <= 80 ? value : string.Concat(value.AsSpan(0, 80), "...");
}
