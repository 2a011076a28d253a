using System.Diagnostics;
using ConsulLock.Aop.Common;
using ConsulLock.Aop.Consul;
using ConsulLock.Aop.Telemetry;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Engine;

/// <summary>
/// Creates sessions, and cleans up after a create whose answer was lost: Consul may have made that session, which
/// would live, renewed by nobody and holding nothing, until its TTL ends it.
/// </summary>
internal static class SessionCreation
{
    /// <summary>
    /// Creates a session. Each attempt carries a name of its own (<see cref="ConsulLockOptions.SessionName"/> and a
    /// short attempt id, <c>ConsulLock.Aop #1a2b3c4d</c>), so that when its answer is lost (a timeout, a reset, an
    /// agent that restarts) while Consul may have created it, the session can be found by that name and destroyed
    /// instead of living, renewed by nobody, until its TTL ends it (up to 2 x TTL). That clean-up runs in the
    /// background and is handed to <paramref name="trackInDoubt"/> so that disposal waits for it. A caller that gives
    /// up while the request is out does not cut it short: it finishes (within the request timeout) and whatever it
    /// made is destroyed.
    /// </summary>
    public static async Task<LockSession> CreateAsync(
        SessionSettings settings, ConsulLockOptions options, ConsulClient client, ILogger logger, Action<LockSession> onLost,
        Action<Task> trackInDoubt, CancellationToken disposing, CancellationToken cancellationToken)
    {
        var createdAt = Stopwatch.GetTimestamp();
        var id = await CreateIdAsync(options.SessionName, settings, options.SessionChecks, client, logger, trackInDoubt, disposing, cancellationToken).ConfigureAwait(false);
        return LockSession.Start(id, settings, createdAt, client, logger, onLost);
    }

    /// <summary>
    /// Creates a session named <paramref name="name"/> and the attempt's id, with <paramref name="settings"/> and
    /// <paramref name="checks"/>, and returns its id; nothing renews it (see <see cref="CreateAsync"/> for the rest).
    /// </summary>
    public static async Task<string> CreateIdAsync(
        string name, SessionSettings settings, IEnumerable<string> checks, ConsulClient client, ILogger logger,
        Action<Task> trackInDoubt, CancellationToken disposing, CancellationToken cancellationToken)
    {
        name = AttemptName(name);
        var createdAt = Stopwatch.GetTimestamp();
        var create = client.CreateSessionAsync(
            new SessionCreateRequest
            {
                Name = name,
                TTL = ConsulDuration.Format(settings.Ttl),
                LockDelay = ConsulDuration.Format(settings.LockDelay),
                Behavior = settings.Behavior == SessionBehavior.Delete ? "delete" : "release",
                Checks = [.. checks],
            },
            CancellationToken.None);
        try
        {
            return await create.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            trackInDoubt(EndAbandonedCreateAsync(create, name, settings, createdAt, client, logger, disposing));
            throw;
        }
        catch (Exception ex) when (MayHaveCreated(ex))
        {
            Log.SessionCreateInDoubt(logger, name, ex);
            trackInDoubt(FindAndDestroyAsync(name, null, settings, createdAt, client, logger, disposing));
            throw;
        }
    }

    /// <summary>The name of one create attempt: the configured name, readable to operators, and a short id of its own.</summary>
    internal static string AttemptName(string sessionName) =>
        sessionName + " #" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>Whether a failed create may still have made a session: unless Consul answered with a refusal (4xx).</summary>
    private static bool MayHaveCreated(Exception exception) =>
        exception is not ConsulLockException { StatusCode: >= 400 and < 500 };

    /// <summary>A create the caller stopped waiting for: let it finish, then destroy what it made.</summary>
    private static async Task EndAbandonedCreateAsync(
        Task<string> create, string name, SessionSettings settings, long attemptAt, ConsulClient client, ILogger logger, CancellationToken disposing)
    {
        string? id = null;
        try
        {
            id = await create.ConfigureAwait(false);
        }
        catch (Exception ex) when (MayHaveCreated(ex))
        {
            Log.SessionCreateInDoubt(logger, name, ex);
        }
        catch (ConsulLockException)
        {
            // Consul refused it: nothing was made.
            return;
        }

        await FindAndDestroyAsync(name, id, settings, attemptAt, client, logger, disposing).ConfigureAwait(false);
    }

    /// <summary>
    /// Destroys the session <paramref name="knownId"/>, or the one named <paramref name="name"/> if Consul made it.
    /// A session found is destroyed and that is the end of it (one attempt makes at most one session). Not found is
    /// believed only once Consul has answered looks for one request timeout: a create still on its way (held in a
    /// buffer, or forwarded to a server during an election) may land a few seconds after its sender gave up. Gives
    /// up (with a warning) when Consul must have ended the session by itself (2 x TTL after the attempt, plus the
    /// request timeouts), or two request timeouts after disposal began.
    /// </summary>
    private static async Task FindAndDestroyAsync(
        string name, string? knownId, SessionSettings settings, long attemptAt, ConsulClient client, ILogger logger, CancellationToken disposing)
    {
        var timeout = client.RequestTimeout;
        var giveUpAt = attemptAt + TicksOf(settings.Ttl * 2 + timeout * 2);
        var disposalSeen = false;
        long? firstAnswerAt = null;
        var backoff = new Backoff(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(2));
        Exception? last = null;
        while (true)
        {
            var lookAt = Stopwatch.GetTimestamp();
            if (!disposalSeen && disposing.IsCancellationRequested)
            {
                disposalSeen = true;
                giveUpAt = Math.Min(giveUpAt, lookAt + TicksOf(timeout * 2));
            }

            if (lookAt > giveUpAt)
            {
                Log.SessionInDoubtGaveUp(logger, name, last);
                return;
            }

            try
            {
                IReadOnlyList<string> found = knownId is not null
                    ? [knownId]
                    : [.. (await client.ListSessionsNamedAsync(name, CancellationToken.None).ConfigureAwait(false)).Select(s => s.ID)];
                firstAnswerAt ??= lookAt;
                foreach (var id in found)
                {
                    await client.DestroySessionAsync(id, CancellationToken.None).ConfigureAwait(false);
                    Log.SessionInDoubtDestroyed(logger, id, name);
                }

                if (found.Count > 0 || lookAt - firstAnswerAt.Value >= TicksOf(timeout))
                {
                    return;
                }
            }
            catch (ConsulLockException ex) when (!ConsulClient.IsTransient(ex) && ex.StatusCode is not null)
            {
                // Refused (an ACL token without session read or write): Consul ends the session within 2 x TTL.
                Log.SessionInDoubtGaveUp(logger, name, ex);
                return;
            }
            catch (Exception ex) when (ex is not ObjectDisposedException)
            {
                // No answer, 5xx, or whatever the transport threw: Consul is not back yet.
                last = ex;
            }
            catch (ObjectDisposedException ex)
            {
                Log.SessionInDoubtGaveUp(logger, name, ex);
                return;
            }

            await Task.Delay(backoff.Next(), CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static long TicksOf(TimeSpan span) => (long)(span.TotalSeconds * Stopwatch.Frequency);
}
