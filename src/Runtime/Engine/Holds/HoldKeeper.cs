using System.Diagnostics;
using ConsulLock.Aop.Common;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Keeps a key held until the end of its minimum hold (grant + <c>MinHold</c>) after its holder let go, in Consul, so
/// that the hold outlives the process. The key is handed over, in one transaction, to a session of its own that
/// nobody renews, made so that Consul ends it when the hold ends: Consul invalidates a session that is not renewed
/// 2 x TTL after its creation, so the TTL is half the time left (at least 10 s, Consul's shortest), its behaviour is
/// delete and its lock-delay 0, so that its end frees the key at once. While the process lives, the session is
/// destroyed when the hold ends (the key is free within a round trip); a process that exits or crashes leaves it to
/// Consul, which ends it then, or at most 20 s later for a hold with less than 20 s left. Consul's own lock clients
/// see the key held throughout: it is an ordinary lock of a live session.
/// </summary>
internal sealed class HoldKeeper(ConsulClient client, ConsulLockOptions options, BackgroundWork background, Disposal disposal, ILogger logger)
{
    /// <summary>
    /// Hands the key over to a hold session that Consul ends when the hold ends. True when handed over; false when the
    /// key is not the holder's any more (nothing to keep). Throws when Consul fails: then it is not known whether the
    /// hold session got the key, and the caller keeps the key itself.
    /// </summary>
    /// <param name="key">The held key.</param>
    /// <param name="from">The session that holds it.</param>
    /// <param name="grantIndex">The key's index at the grant: the hand-over happens only if nothing touched it since.</param>
    /// <param name="queueEntry">The holder's entry in the key's queue, left in the same transaction.</param>
    /// <param name="document">The holder document of the grant, written again so that the hold still names the holder.</param>
    /// <param name="until">When the hold ends (a <see cref="Stopwatch"/> timestamp).</param>
    /// <param name="endWhenDue">Whether to destroy the hold session when the hold ends (not during the provider's
    /// disposal: a provider disposed during a hold leaves the hold to Consul).</param>
    public async Task<bool> HandOverAsync(string key, LockSession from, ulong grantIndex, string? queueEntry, string? document, long until, bool endWhenDue)
    {
        var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), until);
        var ends = DateTimeOffset.UtcNow + left;
        var settings = new SessionSettings(TtlFor(left), TimeSpan.Zero, SessionBehavior.Delete);
        var holder = await SessionCreation.CreateIdAsync(
            $"{options.SessionName} hold of '{key}' until {ends:yyyy-MM-ddTHH:mm:ssZ}", settings, [], client, logger,
            t => background.Track(t), disposal.Token, CancellationToken.None).ConfigureAwait(false);
        TxnResponse answer;
        try
        {
            List<TxnOperation> handover =
            [
                TxnOperation.CheckIndex(key, grantIndex),
                TxnOperation.Unlock(key, from.Id, ConsulClient.LockFlagValue),
                TxnOperation.Lock(key, holder, ConsulClient.LockFlagValue, document),
            ];
            answer = await client.TransactAsync(
                QueueTransactions.WithExit(handover, queueEntry), key, $"hold the lock '{key}' until {ends:O}", CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // In doubt: the hold session may hold the key. It ends when the hold ends, by our hand or Consul's.
            EndAt(key, holder, until, endWhenDue);
            throw;
        }

        if (TxnRefusals.RefusalOf(answer) is not { } refusal)
        {
            Log.HeldUntil(logger, key, ends, holder);
            EndAt(key, holder, until, endWhenDue);
            return true;
        }

        EndAt(key, holder, Stopwatch.GetTimestamp(), endWhenDue: true);
        return refusal.Refusal is TxnRefusal.KeyChanged or TxnRefusal.InvalidSession
            ? false
            : throw new ConsulLockException($"Consul at {client.Address} refused to hold the lock '{key}' until {ends:O}: {refusal.Why}.", key, 409, innerException: null);
    }

    /// <summary>
    /// The TTL of a hold session that Consul ends <paramref name="left"/> from now: half of it in whole seconds,
    /// rounded up (Consul ends a session that is not renewed 2 x TTL after its creation), within Consul's limits.
    /// </summary>
    internal static TimeSpan TtlFor(TimeSpan left)
    {
        var seconds = Math.Ceiling(Math.Max(left.TotalSeconds, 0) / 2);
        var ttl = TimeSpan.FromSeconds(seconds);
        return ttl < SessionSettings.MinTtl ? SessionSettings.MinTtl : ttl > SessionSettings.MaxTtl ? SessionSettings.MaxTtl : ttl;
    }

    private void EndAt(string key, string holder, long until, bool endWhenDue)
    {
        if (!endWhenDue)
        {
            return;
        }

        background.Run(async () =>
        {
            try
            {
                await Clock.UntilAsync(until, disposal.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The provider is disposed: the hold stays, and Consul ends it when it is due.
                return;
            }

            var outcome = await Retry.UntilDoneAsync(
                async () =>
                {
                    await client.DestroySessionAsync(holder, CancellationToken.None).ConfigureAwait(false);
                    return true;
                },
                RetryPolicy.Prompt,
                ex => Log.DestroyFailed(logger, holder, ex),
                static () => true,
                disposal.Token).ConfigureAwait(false);
            if (outcome == RetryOutcome.Done)
            {
                Log.HoldEnded(logger, key);
            }
        });
    }
}
