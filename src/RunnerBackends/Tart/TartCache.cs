using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RunnerBackends.Tart.Internal;

namespace RunnerBackends.Tart;

/// <summary>
/// Housekeeping of tart's image cache (pulled OCI images and IPSWs), which grows with every new image version.
/// </summary>
public static class TartCache
{
    /// <summary>
    /// Runs <c>tart prune --entries caches</c> with <c>--older-than &lt;days&gt;</c> (whole days of
    /// <paramref name="maxAge"/>, at least 1) and/or <c>--space-budget &lt;GB&gt;</c>. Does nothing when
    /// <paramref name="maxAge"/> and <paramref name="spaceBudgetGB"/> are both zero or less.
    /// </summary>
    /// <param name="options">Where tart is (TartPath) and its home (TartHome); other settings are not used.</param>
    /// <param name="maxAge">Entries not accessed for this long are removed; zero or less: no age criterion.</param>
    /// <param name="spaceBudgetGB">The cache is trimmed, least recently accessed first, to this many gigabytes; zero or
    /// less: no size criterion.</param>
    /// <param name="logger">Receives what is pruned.</param>
    /// <param name="cancellationToken">Cancels the prune.</param>
    /// <returns>A task that completes when tart has pruned.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">TartPath is empty.</exception>
    /// <exception cref="RunnerBackendException">tart is missing (the message names TartPath) or the prune failed (the
    /// message carries tart's error).</exception>
    public static Task PruneAsync(
        TartBackendOptions options,
        TimeSpan maxAge,
        int spaceBudgetGB,
        ILogger? logger = null,
        CancellationToken cancellationToken = default) =>
        PruneAsync(options, maxAge, spaceBudgetGB, logger, new ProcessCommandRunner(), cancellationToken);

    internal static async Task PruneAsync(
        TartBackendOptions options,
        TimeSpan maxAge,
        int spaceBudgetGB,
        ILogger? logger,
        ICommandRunner commandRunner,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.TartPath))
        {
            throw new ArgumentException("TartPath must name the tart executable (\"tart\" or a full path).", nameof(options));
        }

        logger ??= NullLogger.Instance;
        var arguments = new List<string> { "prune", "--entries", "caches" };
        var criteria = new List<string>();
        if (maxAge > TimeSpan.Zero)
        {
            var days = (int)Math.Clamp(Math.Floor(maxAge.TotalDays), 1, int.MaxValue);
            criteria.AddRange(["--older-than", days.ToString(CultureInfo.InvariantCulture)]);
        }

        if (spaceBudgetGB > 0)
        {
            criteria.AddRange(["--space-budget", spaceBudgetGB.ToString(CultureInfo.InvariantCulture)]);
        }

        if (criteria.Count == 0)
        {
            Log.PruneSkipped(logger);
            return;
        }

        arguments.AddRange(criteria);
        Log.Pruning(logger, string.Join(' ', criteria));
        try
        {
            await TartCli.RunAsync(commandRunner, options, arguments, standardInput: null, cancellationToken).ConfigureAwait(false);
        }
        catch (CommandFailedException ex)
        {
            throw new RunnerBackendException($"tart prune failed: {TartCli.Error(ex)}", ex);
        }
    }
}
