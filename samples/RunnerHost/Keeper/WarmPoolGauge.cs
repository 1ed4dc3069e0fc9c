using System.Diagnostics.Metrics;

namespace RunnerHost.Keeper;

/// <summary>
/// Reads the warm pool's size from the library's telemetry (the <c>runnerbackends.pool.size</c> instrument of the
/// <c>RunnerBackends</c> meter), as any OpenTelemetry exporter would.
/// </summary>
public sealed class WarmPoolGauge : IDisposable
{
    private readonly MeterListener _listener = new();
    private long _size;

    /// <summary>Starts listening.</summary>
    public WarmPoolGauge()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "RunnerBackends" && instrument.Name == "runnerbackends.pool.size")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((_, delta, _, _) => Interlocked.Add(ref _size, delta));
        _listener.SetMeasurementEventCallback<int>((_, delta, _, _) => Interlocked.Add(ref _size, delta));
        _listener.Start();
    }

    /// <summary>Warm VMs booted and waiting.</summary>
    public long Size => Interlocked.Read(ref _size);

    /// <inheritdoc />
    public void Dispose() => _listener.Dispose();
}
