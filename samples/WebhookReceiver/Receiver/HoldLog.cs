using ConsulLock.Aop;
using WebhookReceiver.Contracts;

namespace WebhookReceiver.Receiver;

/// <summary>
/// The receiver's record of its holds. Each hold also writes the receiver's log line when it ends badly, from the
/// same record, so the log and the demo's timeline cannot disagree about names or tokens.
/// </summary>
public sealed class HoldLog(string receiver, DemoClock clock)
{
    private readonly List<HoldRecord> _holds = [];

    public Hold Begin(string eventId, ConsulLockContext lockContext) => new(this, eventId, lockContext.FencingToken, lockContext.SessionId, clock.Now);

    public List<HoldRecord> Snapshot()
    {
        lock (_holds)
        {
            return [.. _holds];
        }
    }

    private void Add(HoldRecord record)
    {
        lock (_holds)
        {
            _holds.Add(record);
        }

        var what = record.Outcome switch
        {
            HoldOutcome.Lost => "LOST the lock mid-call; the call was cancelled",
            HoldOutcome.Refused => "the store REFUSED the write: a newer holder had been there",
            _ => null,
        };
        if (what is not null)
        {
            Console.WriteLine($"{record.End:0.000}s {record.EventId} token {record.Token} session {record.Session[..8]}: {what}");
        }
    }

    public sealed class Hold(HoldLog log, string eventId, ulong token, string session, double start)
    {
        public void End(HoldOutcome outcome) => log.Add(new HoldRecord(eventId, log.Receiver, token, session, start, log.Now, outcome));
    }

    private string Receiver => receiver;

    private double Now => clock.Now;
}
