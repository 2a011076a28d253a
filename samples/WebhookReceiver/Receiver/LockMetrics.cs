using System.Diagnostics.Metrics;

namespace WebhookReceiver.Receiver;

/// <summary>
/// Listens to the library's own <see cref="Meter"/> ("ConsulLock.Aop"), as any metrics pipeline would, and keeps the
/// lock-wait and acquire durations it reports, so the demo's figures come from the library rather than a stopwatch
/// around it.
/// </summary>
public sealed class LockMetrics : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly List<double> _waits = [];
    private readonly List<double> _acquires = [];

    public LockMetrics()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "ConsulLock.Aop" && instrument.Name is "consullock.wait.duration" or "consullock.acquire.duration")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
        {
            var into = instrument.Name == "consullock.wait.duration" ? _waits : _acquires;
            lock (into)
            {
                into.Add(value);
            }
        });
        _listener.Start();
    }

    public List<double> WaitSeconds => Copy(_waits);

    public List<double> AcquireSeconds => Copy(_acquires);

    private static List<double> Copy(List<double> values)
    {
        lock (values)
        {
            return [.. values];
        }
    }

    public void Dispose() => _listener.Dispose();
}
