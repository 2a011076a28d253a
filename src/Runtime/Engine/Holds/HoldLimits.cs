using ConsulLock.Aop.Common;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// How long a lock is held at least and at most, counted from its grant (contract section 7: holds for scheduled jobs).
/// <see cref="MinHold"/> zero and <see cref="MaxHold"/> null: held exactly as long as the holder holds it.
/// </summary>
internal readonly record struct HoldLimits(TimeSpan MinHold, TimeSpan? MaxHold)
{
    public static readonly TimeSpan MaxMinHold = TimeSpan.FromHours(24);
    public static readonly TimeSpan MinMaxHold = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxMaxHold = TimeSpan.FromHours(24);

    /// <summary>No limits: the lock is held from its grant until its release.</summary>
    public static readonly HoldLimits None = new(TimeSpan.Zero, null);

    /// <summary>The request's limits, checked; bad ones throw before any request to Consul.</summary>
    public static HoldLimits From(ConsulLockRequest? request)
    {
        if (request is null)
        {
            return None;
        }

        var minHold = request.MinHold ?? TimeSpan.Zero;
        if (minHold < TimeSpan.Zero || minHold > MaxMinHold)
        {
            throw OutOfRange(nameof(ConsulLockRequest.MinHold), minHold, "MinHold must be from 0s to 24h (the hold lives in a Consul session, whose TTL is at most 24h).");
        }

        if (request.MaxHold is { } maxHold && (maxHold < MinMaxHold || maxHold > MaxMaxHold))
        {
            throw OutOfRange(nameof(ConsulLockRequest.MaxHold), maxHold, "MaxHold must be from 1s to 24h.");
        }

        if (request.MaxHold is { } limit && minHold > limit)
        {
            throw OutOfRange(
                nameof(ConsulLockRequest.MinHold), minHold,
                $"MinHold ({ConsulDuration.Format(minHold)}) must not be longer than MaxHold ({ConsulDuration.Format(limit)}): the key would have to be " +
                "released and still held at once. Shorten MinHold or lengthen MaxHold.");
        }

        return new HoldLimits(minHold, request.MaxHold);
    }

    private static ArgumentOutOfRangeException OutOfRange(string property, TimeSpan value, string message) =>
        new(nameof(ConsulLockRequest) + "." + property, value, message);
}
