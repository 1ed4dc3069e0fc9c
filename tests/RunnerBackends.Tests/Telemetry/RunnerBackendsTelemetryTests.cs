using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using RunnerBackends.Telemetry;

namespace RunnerBackends.Tests.Telemetry;

/// <summary>
/// What an OpenTelemetry exporter sees of the library. The meter is process-wide, so these tests run alone
/// (see <see cref="TelemetryCollection"/>) and still look only at measurements carrying their own values.
/// </summary>
[Collection(TelemetryCollection.Name)]
public sealed class RunnerBackendsTelemetryTests
{
    [Fact]
    public void Meter_Listener_SeesEveryInstrumentOfTheRunnerBackendsMeter()
    {
        var published = new ConcurrentBag<Instrument>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name == "RunnerBackends")
                {
                    published.Add(instrument);
                }
            },
        };

        listener.Start();

        published.Select(i => i.Name).Should().Contain(
        [
            "runnerbackends.runner.start.duration",
            "runnerbackends.runner.starts",
            "runnerbackends.runner.start.failures",
            "runnerbackends.runners.running",
            "runnerbackends.pool.size",
            "runnerbackends.pool.refills",
            "runnerbackends.readiness.probes",
        ]);
        published.Single(i => i.Name == "runnerbackends.runner.start.duration").Unit.Should().Be("s");
    }

    [Fact]
    public void RecordStarted_ColdStart_RecordsDurationStartAndRunningByBackendAndKind()
    {
        using var sut = CreateSut();

        RunnerBackendsTelemetry.RecordStarted(RunnerBackendsTelemetry.Docker, RunnerBackendsTelemetry.Cold, TimeSpan.FromMilliseconds(1500));

        var duration = sut.Single("runnerbackends.runner.start.duration");
        duration.Value.Should().Be(1.5);
        duration.Tags.Should().Contain(new KeyValuePair<string, object?>("runnerbackends.backend", "docker"))
            .And.Contain(new KeyValuePair<string, object?>("runnerbackends.start.kind", "cold"));
        sut.Single("runnerbackends.runner.starts").Value.Should().Be(1);
        sut.Single("runnerbackends.runners.running").Value.Should().Be(1);
    }

    [Fact]
    public void RecordStartFailed_Exception_CountsFailureWithOpenTelemetryErrorType()
    {
        using var sut = CreateSut();

        RunnerBackendsTelemetry.RecordStartFailed(RunnerBackendsTelemetry.Tart, RunnerBackendsTelemetry.Warm, TimeSpan.FromSeconds(2), new RunnerNotReadyException("late"));

        var failure = sut.Single("runnerbackends.runner.start.failures");
        failure.Value.Should().Be(1);
        failure.Tags.Should().Contain(new KeyValuePair<string, object?>("error.type", typeof(RunnerNotReadyException).FullName))
            .And.Contain(new KeyValuePair<string, object?>("runnerbackends.start.kind", "warm"));
        sut.Measurements.Should().NotContain(m => m.Instrument == "runnerbackends.runner.starts");
        sut.Measurements.Should().NotContain(m => m.Instrument == "runnerbackends.runners.running");
    }

    [Fact]
    public void RecordRemoved_AfterStarted_BringsRunningBackToZero()
    {
        using var sut = CreateSut();

        RunnerBackendsTelemetry.RecordStarted(RunnerBackendsTelemetry.Docker, RunnerBackendsTelemetry.Cold, TimeSpan.FromSeconds(1));
        RunnerBackendsTelemetry.RecordRemoved(RunnerBackendsTelemetry.Docker);

        sut.Measurements.Where(m => m.Instrument == "runnerbackends.runners.running").Sum(m => m.Value).Should().Be(0);
    }

    [Fact]
    public void RecordPoolSizeChangeAndRefill_RecordTartPoolMeasurements()
    {
        using var sut = CreateSut();

        RunnerBackendsTelemetry.RecordPoolSizeChange(+2);
        RunnerBackendsTelemetry.RecordPoolSizeChange(-1);
        RunnerBackendsTelemetry.RecordPoolRefill(succeeded: true);
        RunnerBackendsTelemetry.RecordPoolRefill(succeeded: false, new CommandFailedException(new CommandRequest("tart", "clone"), new CommandResult(1, "", "boom")));

        sut.Measurements.Where(m => m.Instrument == "runnerbackends.pool.size").Sum(m => m.Value).Should().Be(1);
        var refills = sut.Measurements.Where(m => m.Instrument == "runnerbackends.pool.refills").ToList();
        refills.Should().HaveCount(2);
        refills.Should().Contain(m => m.Tags.Contains(new KeyValuePair<string, object?>("runnerbackends.outcome", "success")));
        refills.Should().Contain(m => m.Tags.Contains(new KeyValuePair<string, object?>("error.type", typeof(CommandFailedException).FullName)));
    }

    [Fact]
    public void RecordReadinessProbe_ByOutcome_CountsProbes()
    {
        using var sut = CreateSut();

        RunnerBackendsTelemetry.RecordReadinessProbe(ready: false);
        RunnerBackendsTelemetry.RecordReadinessProbe(ready: true);

        sut.Measurements.Where(m => m.Instrument == "runnerbackends.readiness.probes")
            .Select(m => m.Tags.Single(t => t.Key == "runnerbackends.outcome").Value)
            .Should().Equal("not_ready", "ready");
    }

    [Fact]
    public void ErrorType_Cancellation_IsCancelled()
    {
        RunnerBackendsTelemetry.ErrorType(new OperationCanceledException()).Should().Be("cancelled");
        RunnerBackendsTelemetry.ErrorType(new TaskCanceledException()).Should().Be("cancelled");
    }

    [Fact]
    public void StartActivity_WithListener_StartsActivityOfTheRunnerBackendsSourceWithBackendTag()
    {
        var stopped = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "RunnerBackends",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = stopped.Add,
        };
        ActivitySource.AddActivityListener(listener);

        using (var activity = RunnerBackendsTelemetry.StartActivity("StartRunner", RunnerBackendsTelemetry.Tart, "runner-telemetry-1"))
        {
            activity.Should().NotBeNull();
            RunnerBackendsTelemetry.RecordStartFailed(RunnerBackendsTelemetry.Tart, RunnerBackendsTelemetry.Cold, TimeSpan.Zero, new InvalidOperationException("x"), activity);
        }

        var seen = stopped.Single(a => Equals(a.GetTagItem("runnerbackends.runner.name"), "runner-telemetry-1"));
        seen.Source.Name.Should().Be("RunnerBackends");
        seen.GetTagItem("runnerbackends.backend").Should().Be("tart");
        seen.GetTagItem("error.type").Should().Be(typeof(InvalidOperationException).FullName);
        seen.Status.Should().Be(ActivityStatusCode.Error);
    }

    [Fact]
    public void StartActivity_NoListener_ReturnsNull()
    {
        RunnerBackendsTelemetry.StartActivity("StartRunner", RunnerBackendsTelemetry.Docker).Should().BeNull();
    }

    private static MeasurementRecorder CreateSut() => new();

    private sealed record Measurement(string Instrument, double Value, KeyValuePair<string, object?>[] Tags);

    private sealed class MeasurementRecorder : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<Measurement> _measurements = new();

        public MeasurementRecorder()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == RunnerBackendsTelemetry.Name)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => _measurements.Enqueue(new(i.Name, v, tags.ToArray())));
            _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => _measurements.Enqueue(new(i.Name, v, tags.ToArray())));
            _listener.Start();
        }

        public IReadOnlyList<Measurement> Measurements => [.. _measurements];

        public Measurement Single(string instrument) => Measurements.Should().ContainSingle(m => m.Instrument == instrument).Which;

        public void Dispose() => _listener.Dispose();
    }
}

/// <summary>Runs the telemetry tests alone: the library's meter is shared by every test in the process.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TelemetryCollection
{
    public const string Name = "Telemetry";
}
