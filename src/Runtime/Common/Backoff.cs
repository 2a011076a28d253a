namespace ConsulLock.Aop.Common;

/// <summary>
/// Capped exponential back-off with jitter, so that many processes retrying against a recovering Consul spread out
/// instead of arriving together. Each delay is drawn between half and all of the current step; the step doubles up to
/// the cap. A mutable struct: keep it in a local or a field, never copy it.
/// </summary>
internal struct Backoff
{
    private readonly TimeSpan _first;
    private readonly TimeSpan _cap;
    private TimeSpan _step;

    public Backoff(TimeSpan first, TimeSpan cap)
    {
        _first = first;
        _cap = cap;
        _step = first;
    }

    /// <summary>The next delay, never more than <paramref name="atMost"/> when that is given.</summary>
    public TimeSpan Next(TimeSpan? atMost = null)
    {
        var step = _step;
        _step = step * 2 < _cap ? step * 2 : _cap;
        var delay = TimeSpan.FromTicks((long)(step.Ticks * (0.5 + (Random.Shared.NextDouble() / 2))));
        return atMost is { } limit && limit < delay ? limit : delay;
    }

    public void Reset() => _step = _first;
}
