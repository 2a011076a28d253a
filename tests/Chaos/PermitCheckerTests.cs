using System.Diagnostics;
using System.Globalization;

namespace ConsulLock.Aop.Chaos;

/// <summary>The semaphore workload's checker must be able to fail: a third permit of limit 2 and a loss with no cause are caught.</summary>
public sealed class PermitCheckerTests
{
    private static readonly long s_second = Stopwatch.Frequency;
    private static readonly ScenarioRun s_all = new("all", 0, 1000 * s_second, []);

    [Fact]
    public void Two_permits_at_once_pass_and_a_third_is_an_overflow()
    {
        var two = Replay("pstart w0.p s 10 1000 x", "pstart w1.p s 11 1100 x", "pend w0.p s 10 2000 done", "pstart w2.p s 12 2001 x", "pend w1.p s 11 3000 done", "pend w2.p s 12 3000 done");
        var three = Replay("pstart w0.p s 10 1000 x", "pstart w1.p s 11 1100 x", "pstart w2.p s 12 1500 x", "pend w0.p s 10 2000 done", "pend w1.p s 11 3000 done", "pend w2.p s 12 3000 done");

        var clean = PermitChecker.Check(s_all, two, []);
        var over = PermitChecker.Check(s_all, three, []);

        Assert.True(clean.Clean, string.Join("\n", clean.Findings));
        Assert.Equal(2, clean.MostAtOnce);
        Assert.Equal(1, over.Overflows);
        Assert.Equal(3, over.MostAtOnce);
        Assert.Contains(over.Findings, f => f.Contains("permit overflow on s", StringComparison.Ordinal));
    }

    [Fact]
    public void A_holder_that_saw_its_loss_no_longer_counts_and_a_suspended_one_is_excused()
    {
        var lost = Replay("pstart w0.p s 10 1000 x", "pstart w1.p s 11 1100 x", "plost w0.p s 10 1400 x", "pstart w2.p s 12 1500 x", "pend w0.p s 10 2000 lost", "pend w1.p s 11 3000 done", "pend w2.p s 12 3000 done");
        var cause = new Fault("blackhole", Ms(900), Ms(1300), ["w0"], MayCauseLoss: true);
        var suspended = new Fault("SIGSTOP w0", Ms(1200), Ms(1400), ["w0"], MayCauseLoss: true, Excuse: FaultExcuse.HolderSuspended);
        var unaware = Replay("pstart w0.p s 10 1000 x", "pstart w1.p s 11 1100 x", "pstart w2.p s 12 1500 x", "pend w0.p s 10 2000 done", "pend w1.p s 11 3000 done", "pend w2.p s 12 3000 done");

        Assert.True(PermitChecker.Check(s_all, lost, [cause]).Clean);
        Assert.False(PermitChecker.Check(s_all, lost, []).Clean); // the same loss with no cause in the schedule is a false loss
        var excused = PermitChecker.Check(s_all, unaware, [suspended]);
        Assert.True(excused.Clean, string.Join("\n", excused.Findings));
        Assert.Equal(1, excused.Excused);
    }

    private static IReadOnlyList<RegisterEvent> Replay(params string[] lines)
    {
        var register = new FencedRegister();
        try
        {
            foreach (var line in lines)
            {
                var f = line.Split(' ');
                f[4] = Ms(long.Parse(f[4], CultureInfo.InvariantCulture)).ToString(CultureInfo.InvariantCulture);
                register.Handle(string.Join(' ', f));
            }

            return register.Snapshot();
        }
        finally
        {
            register.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static long Ms(long milliseconds) => milliseconds * s_second / 1000;
}
