using System.Threading.Channels;

namespace ConsulLock.Aop.Tests.Leadership;

/// <summary>
/// What the bodies of a leader election recorded: each term's instance, fencing token, and its start and end as steps
/// of one sequence, so that "no two terms at once" is checked without clocks.
/// </summary>
internal sealed class TermHistory
{
    private readonly Channel<Term> _starts = Channel.CreateUnbounded<Term>();
    private readonly Channel<Term> _ends = Channel.CreateUnbounded<Term>();
    private long _step;

    public List<Term> Ended { get; } = [];

    /// <summary>A body that records its term and holds it until its token fires.</summary>
    public Func<ConsulLockContext, CancellationToken, Task> Body(string instance) => async (term, whileLeader) =>
    {
        var started = new Term(instance, term.FencingToken, Interlocked.Increment(ref _step), 0);
        _starts.Writer.TryWrite(started);
        try
        {
            await Task.Delay(Timeout.Infinite, whileLeader);
        }
        finally
        {
            var ended = started with { End = Interlocked.Increment(ref _step) };
            lock (Ended)
            {
                Ended.Add(ended);
            }

            _ends.Writer.TryWrite(ended);
        }
    };

    public async Task<Term> NextStartAsync() => await _starts.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

    public async Task<Term> NextEndAsync() => await _ends.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

    public void AssertDisjointAndIncreasing()
    {
        lock (Ended)
        {
            var terms = Ended.OrderBy(t => t.Start).ToList();
            for (var i = 1; i < terms.Count; i++)
            {
                Assert.True(terms[i - 1].End < terms[i].Start, $"term {terms[i]} began before {terms[i - 1]} ended");
                Assert.True(terms[i - 1].Token < terms[i].Token, $"fencing token of {terms[i]} is not above {terms[i - 1]}");
            }
        }
    }

    internal sealed record Term(string Instance, ulong Token, long Start, long End);
}
