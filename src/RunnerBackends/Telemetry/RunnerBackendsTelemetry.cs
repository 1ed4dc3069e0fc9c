using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RunnerBackends.Telemetry;

/// <summary>
/// The library's one <see cref="Meter"/> and one <see cref="ActivitySource"/>, both named <c>RunnerBackends</c>,
/// and the instruments every backend records to. Tag names follow OpenTelemetry conventions.
/// </summary>
internal static class RunnerBackendsTelemetry
{
    public const string Name = "RunnerBackends";

    public const string BackendTag = "runnerbackends.backend";
    public const string StartKindTag = "runnerbackends.start.kind";
    public const string OutcomeTag = "runnerbackends.outcome";
    public const string ErrorTypeTag = "error.type";

    public const string Docker = "docker";
    public const string Tart = "tart";
    public const string Cold = "cold";
    public const string Warm = "warm";

    private static readonly string? Version = typeof(RunnerBackendsTelemetry).Assembly.GetName().Version?.ToString();

    public static readonly ActivitySource ActivitySource = new(Name, Version);

    public static readonly Meter Meter = new(Name, Version);

    private static readonly Histogram<double> StartDuration = Meter.CreateHistogram<double>(
        "runnerbackends.runner.start.duration",
        unit: "s",
        description: "Time from a StartRunnerAsync call to a running runner (or to its failure).",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120] });

    private static readonly Counter<long> Starts = Meter.CreateCounter<long>(
        "runnerbackends.runner.starts", unit: "{runner}", description: "Runners started.");

    private static readonly Counter<long> StartFailures = Meter.CreateCounter<long>(
        "runnerbackends.runner.start.failures", unit: "{runner}", description: "Runner starts that failed; everything created for them was removed.");

    private static readonly UpDownCounter<long> Running = Meter.CreateUpDownCounter<long>(
        "runnerbackends.runners.running", unit: "{runner}", description: "Runners started and not yet removed.");

    private static readonly UpDownCounter<long> PoolSize = Meter.CreateUpDownCounter<long>(
        "runnerbackends.pool.size", unit: "{vm}", description: "Warm VMs booted and waiting for a runner.");

    private static readonly Counter<long> PoolRefills = Meter.CreateCounter<long>(
        "runnerbackends.pool.refills", unit: "{vm}", description: "Attempts to boot a VM for the warm pool, by outcome.");

    private static readonly Counter<long> ReadinessProbes = Meter.CreateCounter<long>(
        "runnerbackends.readiness.probes", unit: "{probe}", description: "Readiness probes sent to booting VMs, by outcome.");

    /// <summary>Starts the activity that spans one StartRunnerAsync call (null when nobody listens).</summary>
    public static Activity? StartActivity(string operation, string backend, string? runnerName = null)
    {
        var activity = ActivitySource.StartActivity(operation, ActivityKind.Internal);
        activity?.SetTag(BackendTag, backend);
        if (runnerName is not null)
        {
            activity?.SetTag("runnerbackends.runner.name", runnerName);
        }

        return activity;
    }

    public static void RecordStarted(string backend, string kind, TimeSpan duration)
    {
        var tags = new TagList { { BackendTag, backend }, { StartKindTag, kind } };
        StartDuration.Record(duration.TotalSeconds, tags);
        Starts.Add(1, tags);
        Running.Add(1, new TagList { { BackendTag, backend } });
    }

    public static void RecordStartFailed(string backend, string kind, TimeSpan duration, Exception error, Activity? activity = null)
    {
        var errorType = ErrorType(error);
        var tags = new TagList { { BackendTag, backend }, { StartKindTag, kind }, { ErrorTypeTag, errorType } };
        StartDuration.Record(duration.TotalSeconds, tags);
        StartFailures.Add(1, tags);
        activity?.SetStatus(ActivityStatusCode.Error, errorType);
        activity?.SetTag(ErrorTypeTag, errorType);
    }

    /// <summary>Records the removal of a runner that <see cref="RecordStarted"/> counted.</summary>
    public static void RecordRemoved(string backend) => Running.Add(-1, new TagList { { BackendTag, backend } });

    public static void RecordPoolSizeChange(int delta) => PoolSize.Add(delta, new TagList { { BackendTag, Tart } });

    public static void RecordPoolRefill(bool succeeded, Exception? error = null)
    {
        var tags = new TagList { { BackendTag, Tart }, { OutcomeTag, succeeded ? "success" : "failure" } };
        if (error is not null)
        {
            tags.Add(ErrorTypeTag, ErrorType(error));
        }

        PoolRefills.Add(1, tags);
    }

    public static void RecordReadinessProbe(bool ready) =>
        ReadinessProbes.Add(1, new TagList { { BackendTag, Tart }, { OutcomeTag, ready ? "ready" : "not_ready" } });

    public static string ErrorType(Exception error) => error switch
    {
        OperationCanceledException => "cancelled",
        _ => error.GetType().FullName ?? error.GetType().Name,
    };
}
