using System.Text.Json;

namespace RunnerBackends.Tart.Internal;

/// <summary>One entry of <c>tart list --format json</c>.</summary>
internal sealed record TartListEntry(string Name, string Source, bool Running)
{
    public bool IsLocal => string.Equals(Source, "local", StringComparison.OrdinalIgnoreCase);

    /// <summary>Parses tart's JSON array by key (never by position); entries without a name are skipped.</summary>
    public static IReadOnlyList<TartListEntry> Parse(string json)
    {
        var entries = new List<TartListEntry>();
        if (string.IsNullOrWhiteSpace(json))
        {
            return entries;
        }

        using var document = JsonDocument.Parse(json);
        if (document.RootElement.ValueKind != JsonValueKind.Array)
        {
            throw new JsonException("tart list did not return a JSON array.");
        }

        foreach (var item in document.RootElement.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Object
                || !item.TryGetProperty("Name", out var name)
                || name.ValueKind != JsonValueKind.String
                || name.GetString() is not { Length: > 0 } nameText)
            {
                continue;
            }

            var source = item.TryGetProperty("Source", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() ?? "" : "";
            var running = item.TryGetProperty("Running", out var r) && r.ValueKind == JsonValueKind.True
                || (item.TryGetProperty("State", out var state) && state.ValueKind == JsonValueKind.String && state.GetString() == "running");
            entries.Add(new TartListEntry(nameText, source, running));
        }

        return entries;
    }
}
