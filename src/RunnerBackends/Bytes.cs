using System.Globalization;

namespace RunnerBackends;

/// <summary>
/// Formats byte counts for people.
/// </summary>
public static class Bytes
{
    private const string Units = "KMGTPE";

    /// <summary>
    /// Formats a byte count with binary units: below 1024 as <c>"N B"</c>, else with one decimal,
    /// such as <c>"1.0 KiB"</c>, <c>"1.5 MiB"</c> or <c>"2.0 GiB"</c>, up to EiB.
    /// </summary>
    /// <param name="bytes">The number of bytes.</param>
    /// <returns>The formatted text, always with an invariant-culture decimal point.</returns>
    public static string Format(ulong bytes)
    {
        const ulong unit = 1024;
        if (bytes < unit)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{bytes} B");
        }

        var div = unit;
        var exp = 0;
        for (var n = bytes / unit; n >= unit && exp < Units.Length - 1; n /= unit)
        {
            div *= unit;
            exp++;
        }

        return string.Create(CultureInfo.InvariantCulture, $"{(double)bytes / div:0.0} {Units[exp]}iB");
    }
}
