using System.Globalization;

namespace RunnerBackends.Bench;

/// <summary>Parses <c>--name value</c> pairs.</summary>
internal sealed class BenchArguments
{
    private readonly Dictionary<string, string> _values;

    private BenchArguments(Dictionary<string, string> values) => _values = values;

    public static BenchArguments Parse(IEnumerable<string> args)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? key = null;
        foreach (var arg in args)
        {
            if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                if (key is not null)
                {
                    values[key] = "true";
                }

                key = arg[2..];
            }
            else if (key is not null)
            {
                values[key] = arg;
                key = null;
            }
        }

        if (key is not null)
        {
            values[key] = "true";
        }

        return new BenchArguments(values);
    }

    public int GetInt(string name, int fallback) =>
        _values.TryGetValue(name, out var v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public string GetString(string name, string fallback) => _values.TryGetValue(name, out var v) ? v : fallback;

    public bool GetFlag(string name) => _values.TryGetValue(name, out var v) && v != "false";
}
