namespace RunnerBackends;

/// <summary>Formats argument lists for messages and logs (never for execution).</summary>
internal static class CommandLine
{
    public static string Format(string fileName, IReadOnlyList<string> arguments)
    {
        if (arguments.Count == 0)
        {
            return Quote(fileName);
        }

        return string.Join(' ', arguments.Select(Quote).Prepend(Quote(fileName)));
    }

    private static string Quote(string value)
    {
        if (value.Length > 0 && !value.Any(c => char.IsWhiteSpace(c) || c is '"' or '\''))
        {
            return value;
        }

        return "\"" + value.Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
    }
}
