using System.Diagnostics;

namespace ConsulLock.Aop.Chaos;

/// <summary>
/// The checker must be able to fail: synthetic histories with an overlap, a stale write, a false loss and a token that
/// does not increase are each caught, and what Consul allows by design is counted apart, not hidden.
/// </summary>
public sealed class CheckerTests
{
    private static readonly long s_second = Stopwatch.Frequency;
    private static readonly ScenarioRun s_all = new("all", 0, 1000 * s_second, []);

    [Fact]
    public void A_clean_handover_passes()
    {
        var history = Replay(
            "start w0.0 a 10 1000",
            "end w0.0 a 10 2000 done",
            "start w1.0 a 11 2001",
            "end w1.0 a 11 3000 done");

        var report = Checker.Check(s_all, history, []);

        Assert.True(report.Clean, string.Join("\n", report.Findings));
        Assert.Equal(2, report.Grants);
    }

    [Fact]
    public void A_grant_before_the_holder_released_is_an_overlap()
    {
        var history = Replay(
            "start w0.0 a 10 1000",
            "start w1.0 a 11 1500",
            "end w0.0 a 10 2000 done",
            "end w1.0 a 11 3000 done");

        var report = Checker.Check(s_all, history, []);

        Assert.Equal(1, report.Overlaps);
        Assert.False(report.Clean);
        Assert.Contains(report.Findings, f => f.Contains("overlap on a", StringComparison.Ordinal));
    }

    [Fact]
    public void A_grant_after_the_holder_saw_its_loss_is_no_overlap()
    {
        var history = Replay(
            "start w0.0 a 10 1000",
            "lost w0.0 a 10 1400",
            "start w1.0 a 11 1500",
            "end w0.0 a 10 2000 lost",
            "end w1.0 a 11 3000 done");
        var cause = new Fault("blackhole", Ms(900), Ms(1300), ["w0"], MayCauseLoss: true);

        var report = Checker.Check(s_all with { Faults = [cause] }, history, [cause]);

        Assert.True(report.Clean, string.Join("\n", report.Findings));
        Assert.Equal(1, report.Losses);
    }

    [Fact]
    public void A_holder_that_never_ends_overlaps_every_later_grant()
    {
        var history = Replay(
            "start w0.0 a 10 1000",
            "start w1.0 a 11 1500",
            "end w1.0 a 11 1600 done",
            "start w2.0 a 12 1700",
            "end w2.0 a 12 1800 done");

        Assert.Equal(2, Checker.Check(s_all, history, []).Overlaps);
    }

    [Fact]
    public void An_overlap_is_excused_only_by_a_fault_that_allows_it_on_that_key_and_holder()
    {
        var history = Replay(
            "start w0.0 a 10 1000",
            "start w1.0 a 11 1500",
            "end w0.0 a 10 2000 done",
            "end w1.0 a 11 3000 done");
        var deleteA = new Fault("delete a", Ms(1200), Ms(1200), ["w0"], true, FaultExcuse.HandoverWithoutLockDelay, "a");
        var deleteB = deleteA with { Key = "b" };
        var deleteTooLate = deleteA with { Start = Ms(1600), Heal = Ms(1600) };
        var suspended = new Fault("SIGSTOP w0", Ms(1100), Ms(1900), ["w0"], true, FaultExcuse.HolderSuspended);
        var suspendedOther = suspended with { Workers = ["w1"] };
        var destroy = new Fault("destroy session", Ms(1200), Ms(1200), ["w0"], true, FaultExcuse.None);

        Assert.Equal((0, 1), Counts(Checker.Check(s_all, history, [deleteA])));
        Assert.Equal((0, 1), Counts(Checker.Check(s_all, history, [suspended])));
        Assert.Equal((1, 0), Counts(Checker.Check(s_all, history, [deleteB])));
        Assert.Equal((1, 0), Counts(Checker.Check(s_all, history, [deleteTooLate])));
        Assert.Equal((1, 0), Counts(Checker.Check(s_all, history, [suspendedOther])));
        Assert.Equal((1, 0), Counts(Checker.Check(s_all, history, [destroy])));

        static (int, int) Counts(ScenarioReport r) => (r.Overlaps, r.ExcusedOverlaps);
    }

    [Fact]
    public void The_register_rejects_a_lower_token_and_the_checker_counts_it_as_fenced()
    {
        var history = Replay(
            "start w0.0 a 10 1000",
            "start w1.0 a 11 1500",
            "end w0.0 a 10 2000 done",
            "end w1.0 a 11 3000 done");

        Assert.False(history.Single(e => e.Kind == "end" && e.Flow == "w0.0").Accepted);
        Assert.Equal(1, Checker.Check(s_all, history, []).FencedOff);
    }

    [Fact]
    public void A_superseded_write_the_store_accepted_is_caught()
    {
        // The old holder's end arrives at the store before the new holder's start although it was written after it:
        // the register (arrival order) accepts it, the checker (monotonic clock) does not.
        var history = Replay(
            "start w0.0 a 10 1000",
            "end w0.0 a 10 1600 done",
            "start w1.0 a 11 1500",
            "end w1.0 a 11 3000 done");

        var report = Checker.Check(s_all, history, []);

        Assert.Equal(1, report.StaleAccepted);
        Assert.Equal(1, report.Overlaps);
        Assert.False(report.Clean);
    }

    [Fact]
    public void A_token_that_does_not_increase_is_caught_unless_the_state_was_lost_in_between()
    {
        var history = Replay(
            "start w0.0 a 10 1000",
            "end w0.0 a 10 2000 done",
            "start w1.0 a 10 2500",
            "end w1.0 a 10 3000 done",
            "start w2.0 a 4 3500",
            "end w2.0 a 4 4000 done");
        var stateLost = new Fault("dev restart", Ms(3200), Ms(3300), null, true, FaultExcuse.StateLost);

        Assert.Equal(2, Checker.Check(s_all, history, []).TokenOrderViolations);
        var excused = Checker.Check(s_all, history, [stateLost]);
        Assert.Equal(1, excused.TokenOrderViolations);
        Assert.Equal(1, excused.TokenResets);
    }

    [Fact]
    public void A_grant_made_before_a_state_loss_but_reported_inside_it_still_excuses_the_lower_token_after_it()
    {
        // Seen in a clean-clone run: a leader term granted just before the dev agent's restart reported its start (taken
        // after the grant) inside the restart; the next term, after the loss, had a lower token.
        var history = Replay(
            "start w0.leader leader 176 3250",
            "end w0.leader leader 176 3260 lost",
            "start w1.leader leader 30 3500",
            "end w1.leader leader 30 4000 done");
        var stateLost = new Fault("dev restart", Ms(3200), Ms(3300), null, true, FaultExcuse.StateLost);
        Assert.Equal(0, Checker.Check(s_all, history, [stateLost]).TokenOrderViolations);

        // A predecessor that started after the heal carries a post-loss token: a lower one after it is a violation.
        var after = Replay(
            "start w0.leader leader 176 3400",
            "end w0.leader leader 176 3450 done",
            "start w1.leader leader 30 3500",
            "end w1.leader leader 30 4000 done");
        Assert.Equal(1, Checker.Check(s_all, after, [stateLost]).TokenOrderViolations);
    }

    [Fact]
    public void A_loss_with_no_fault_that_may_cause_it_is_a_false_loss()
    {
        var history = Replay(
            "start w0.0 a 10 1000",
            "lost w0.0 a 10 5000",
            "end w0.0 a 10 5001 lost");
        var shortOutage = new Fault("refuse 3 s", Ms(1000), Ms(4000), ["w0"], MayCauseLoss: false);
        var otherWorker = new Fault("blackhole 12 s", Ms(1000), Ms(4000), ["w1"], MayCauseLoss: true);
        var longAgo = new Fault("blackhole 12 s", -100 * s_second, -90 * s_second, ["w0"], MayCauseLoss: true);
        var cause = new Fault("blackhole 12 s", Ms(1000), Ms(4000), ["w0"], MayCauseLoss: true);

        Assert.Equal(1, Checker.Check(s_all, history, []).FalseLosses);
        Assert.Equal(1, Checker.Check(s_all, history, [shortOutage]).FalseLosses);
        Assert.Equal(1, Checker.Check(s_all, history, [otherWorker]).FalseLosses);
        Assert.Equal(1, Checker.Check(s_all, history, [longAgo]).FalseLosses);
        Assert.Equal(0, Checker.Check(s_all, history, [cause]).FalseLosses);
    }

    [Fact]
    public void Two_overlapping_faults_on_the_worker_may_cause_a_loss_together_two_apart_may_not()
    {
        var history = Replay(
            "start w0.0 a 10 1000",
            "lost w0.0 a 10 7000",
            "end w0.0 a 10 7001 lost");
        var election = new Fault("kill leader", Ms(2000), Ms(4500), null, MayCauseLoss: false);
        var delayed = new Fault("delay 2 s for 11 s", Ms(2000), Ms(13000), ["w0"], MayCauseLoss: false);
        var delayedLater = delayed with { Start = Ms(5000), Heal = Ms(9000) };
        var delayedOther = delayed with { Workers = ["w1"] };

        Assert.Equal(0, Checker.Check(s_all, history, [election, delayed]).FalseLosses);
        Assert.Equal(1, Checker.Check(s_all, history, [election, delayedLater]).FalseLosses);
        Assert.Equal(1, Checker.Check(s_all, history, [election, delayedOther]).FalseLosses);
        Assert.Equal(1, Checker.Check(s_all, history, [delayed]).FalseLosses);
    }

    [Fact]
    public void Figures_heal_to_grant_and_work_during_the_fault()
    {
        var history = Replay(
            "start w0.0 a 10 1000",
            "end w0.0 a 10 1500 done",
            "start w1.0 b 20 1600",
            "end w1.0 b 20 1700 done",
            "start w1.0 a 11 4250",
            "end w1.0 a 11 4300 done");
        var fault = new Fault("kill leader", Ms(1200), Ms(4000), null, MayCauseLoss: false);

        var report = Checker.Check(s_all with { Faults = [fault] }, history, [fault]);

        Assert.Equal(250, report.HealToGrantMs!.Value, precision: 0);
        Assert.Equal(2, report.WorkInFaults);
        Assert.Matches(@"\nall +3 .* 250 +2\r?\n", Checker.Format([report]));
    }

    [Fact]
    public void A_key_waited_for_and_not_granted_within_2_s_of_a_heal_breaks_the_recovery_bound()
    {
        var history = Replay(
            "start w0.0 a 10 1000",
            "end w0.0 a 10 1500 done",
            "wait w1.0 a 3000",
            "start w1.0 a 11 9000",
            "end w1.0 a 11 9100 done");
        var election = new Fault("kill leader", Ms(2000), Ms(4000), null, MayCauseLoss: false);

        var report = Checker.Check(s_all with { Faults = [election] }, history, [election]);

        Assert.Equal(1, report.RecoveryViolations);
        Assert.False(report.Clean);
        Assert.Equal(5000, report.KeyHealToGrantMs!.Value, precision: 0);
        var finding = Assert.Single(report.Findings);
        Assert.Contains("recovery bound: key a not granted within 2000 ms", finding, StringComparison.Ordinal);
        Assert.Contains("w1.0 3.0 s-9.0 s granted", finding, StringComparison.Ordinal);
        Assert.Matches(@"\nall +2 +0 +0 +0 +0 +1 \| .* 5000 ", Checker.Format([report]));
    }

    [Fact]
    public void Within_the_recovery_bound_a_grant_may_wait_for_the_holder_in_the_way_and_no_longer()
    {
        var election = new Fault("kill leader", Ms(2000), Ms(4000), null, MayCauseLoss: false);
        string[] before =
        [
            "wait w1.0 a 3000",
            "start w2.0 a 10 3500",
            "end w2.0 a 10 7000 done",
        ];
        // A line long after, so that the history outlasts every deadline (a deadline past its end is not judged).
        const string later = "quit w9.0 z 60000";

        // Granted 1.5 s after the heal: within 2 s.
        var quick = Replay("wait w1.0 a 3000", "start w1.0 a 10 5500", "end w1.0 a 10 5600 done", "wait w2.0 a 9000");
        Assert.Equal(0, Checker.Check(s_all with { Faults = [election] }, quick, [election]).RecoveryViolations);

        // A connected holder in the way ends at 7 s: the waiter gets the key 1 s after that, within the bound.
        var behindHolder = Replay([.. before, "start w1.0 a 11 8000", "end w1.0 a 11 8100 done", later]);
        var report = Checker.Check(s_all with { Faults = [election] }, behindHolder, [election]);
        Assert.True(report.Clean, string.Join("\n", report.Findings));
        Assert.Equal(4000, report.KeyHealToGrantMs!.Value, precision: 0);

        // ... but not 2.5 s after the holder's end.
        var tooLate = Replay([.. before, "start w1.0 a 11 9500", "end w1.0 a 11 9600 done", later]);
        Assert.Equal(1, Checker.Check(s_all with { Faults = [election] }, tooLate, [election]).RecoveryViolations);

        // A holder that saw its lost-token (cut off past the TTL) explains its session's end + the lock-delay.
        var blackhole = new Fault("w2: blackhole 12 s", Ms(3600), Ms(15600), ["w2"], MayCauseLoss: true);
        var lostHolder = Replay(
            "wait w1.0 a 3000",
            "start w2.0 a 10 3500",
            "lost w2.0 a 10 13600",
            "end w2.0 a 10 13700 lost",
            "start w1.0 a 11 40000",
            "end w1.0 a 11 40100 done",
            later);
        var cutOff = Checker.Check(s_all with { Faults = [blackhole] }, lostHolder, [blackhole]);
        Assert.True(cutOff.Clean, string.Join("\n", cutOff.Findings));
        Assert.Equal(24400, cutOff.KeyHealToGrantMs!.Value, precision: 0);
    }

    [Fact]
    public void A_session_an_operator_destroyed_keeps_its_key_for_the_lock_delay_even_after_its_holders_section_ended()
    {
        // The register saw w3 end its section at 1.0 s; its release had not landed when the operator destroyed its
        // session at 1.5 s, so Consul keeps the key for the lock-delay (15 s in the suite) after the destroy.
        var lockDelayMs = ChaosRun.LockDelay.TotalMilliseconds;
        var destroy = new Fault("operator destroys the session (w3, a)", Ms(1500), Ms(1510), ["w3"], MayCauseLoss: true, Key: "a", LockDelayOnKey: true);
        string[] lines =
        [
            "start w3.1 a 10 500",
            "end w3.1 a 10 1000 done",
            "wait w1.0 a 1600",
        ];
        var inTime = Replay([.. lines, $"start w1.0 a 11 {1510 + lockDelayMs + 500:F0}", "quit w9.0 z 60000"]);

        var report = Checker.Check(s_all with { Faults = [destroy] }, inTime, [destroy]);
        Assert.True(report.Clean, string.Join("\n", report.Findings));

        // Without the lock-delay flag it is a violation: the rule is what excuses it.
        var plain = destroy with { LockDelayOnKey = false };
        Assert.Equal(1, Checker.Check(s_all with { Faults = [plain] }, inTime, [plain]).RecoveryViolations);

        // And the lock-delay explains no more than itself: a grant 3 s after it ends is late.
        var late = Replay([.. lines, $"start w1.0 a 11 {1510 + lockDelayMs + 3000:F0}", "quit w9.0 z 60000"]);
        Assert.Equal(1, Checker.Check(s_all with { Faults = [destroy] }, late, [destroy]).RecoveryViolations);
    }

    [Fact]
    public void A_destroyed_session_keeps_every_key_it_held_for_the_lock_delay_not_only_the_one_aimed_at()
    {
        // The soak: an operator destroyed w2's session aiming at key b; w2's other flow held c with the same session (its
        // section had just ended, its release not landed), and c stayed refused for the lock-delay too (granted 14.9 s
        // after the destroy).
        var lockDelayMs = ChaosRun.LockDelay.TotalMilliseconds;
        var destroy = new Fault("operator destroys the session (w2, b)", Ms(1500), Ms(1510), ["w2"], MayCauseLoss: true, Key: "b", LockDelayOnKey: true, Session: "s2");
        string[] lines =
        [
            "start w2.0 b 10 500 s2",
            "start w2.1 c 11 600 s2",
            "start w4.0 a 12 700 s4",
            "end w2.1 c 11 1450 done",
            "lost w2.0 b 10 1520",
            "end w2.0 b 10 1521 lost",
            "end w4.0 a 12 1800 done",
            "wait w1.0 c 1600",
            "wait w3.0 a 1900",
        ];
        var inTime = Replay([.. lines, $"start w1.0 c 13 {1510 + lockDelayMs + 500:F0}", "start w3.0 a 14 3000", "quit w9.0 z 60000"]);
        var report = Checker.Check(s_all with { Faults = [destroy] }, inTime, [destroy]);
        Assert.True(report.Clean, string.Join("\n", report.Findings));

        // Another session's key is not kept: a, held by w4 and released at 1.8 s, is late at 5 s.
        var aLate = Replay([.. lines, $"start w1.0 c 13 {1510 + lockDelayMs + 500:F0}", "start w3.0 a 14 5000", "quit w9.0 z 60000"]);
        var late = Checker.Check(s_all with { Faults = [destroy] }, aLate, [destroy]);
        Assert.Equal(1, late.RecoveryViolations);
        Assert.Contains(late.Findings, f => f.Contains("key a", StringComparison.Ordinal));

        // Without the session named, c is judged like any key and is late.
        var unnamed = destroy with { Session = null };
        Assert.Equal(1, Checker.Check(s_all with { Faults = [unnamed] }, inTime, [unnamed]).RecoveryViolations);
    }

    [Fact]
    public void A_holder_suspended_past_its_session_keeps_the_key_until_its_session_ends_plus_the_lock_delay_lost_token_seen_or_not()
    {
        // The soak: w4 suspended 23 s while it held c; resumed, its section ended before its lost-token fired, so the
        // register shows a clean end, but Consul had ended its session during the suspension and applied the lock-delay.
        var ttlMs = ChaosRun.SessionTtl.TotalMilliseconds;
        var lockDelayMs = ChaosRun.LockDelay.TotalMilliseconds;
        var sigstop = new Fault("SIGSTOP w4 23 s", Ms(1000), Ms(24000), ["w4"], MayCauseLoss: true, FaultExcuse.HolderSuspended);
        string[] lines =
        [
            "start w4.0 c 10 500 s4",
            "wait w1.0 c 2000",
            "end w4.0 c 10 24000 done",
        ];
        var sessionEnd = 1000 + (2 * ttlMs);
        var inTime = Replay([.. lines, $"start w1.0 c 11 {sessionEnd + lockDelayMs + 1000:F0}", "quit w9.0 z 90000"]);
        var report = Checker.Check(s_all with { Faults = [sigstop] }, inTime, [sigstop]);
        Assert.True(report.Clean, string.Join("\n", report.Findings));

        // It explains no more than itself.
        var late = Replay([.. lines, $"start w1.0 c 11 {sessionEnd + lockDelayMs + 3000:F0}", "quit w9.0 z 90000"]);
        Assert.Equal(1, Checker.Check(s_all with { Faults = [sigstop] }, late, [sigstop]).RecoveryViolations);

        // A suspension too short for Consul's timer to run out (5 s < 1.5 x TTL) explains only the release at the end.
        var shortStop = new Fault("SIGSTOP w4 5 s", Ms(1000), Ms(6000), ["w4"], MayCauseLoss: true, FaultExcuse.HolderSuspended);
        var afterShort = Replay("start w4.0 c 10 500 s4", "wait w1.0 c 2000", "end w4.0 c 10 6000 done", "start w1.0 c 11 10000", "quit w9.0 z 90000");
        Assert.Equal(1, Checker.Check(s_all with { Faults = [shortStop] }, afterShort, [shortStop]).RecoveryViolations);
    }

    [Fact]
    public void A_leader_that_replayed_its_log_may_refuse_every_key_until_the_replay_plus_the_lock_delay()
    {
        // The soak: after a quorum loss (or a leader change that handed the lead to a server restarted shortly before)
        // every key stayed refused for 13-16 s: the restarted leader had re-armed Consul's lock-delays as it replayed
        // its log.
        var lockDelayMs = ChaosRun.LockDelay.TotalMilliseconds;
        var quorum = new Fault("quorum lost (2 of 3 killed) 2 s", Ms(1000), Ms(4000), null, MayCauseLoss: false)
        {
            ReplayedLockDelayUntil = Ms(4100 + (long)lockDelayMs),
        };
        string[] lines =
        [
            "start w0.0 a 10 500 s0",
            "end w0.0 a 10 700 done",
            "wait w1.0 a 2000",
            "wait w2.0 b 2500",
        ];
        var inTime = Replay([.. lines, $"start w1.0 a 11 {4100 + lockDelayMs + 1000:F0}", $"start w2.0 b 12 {4100 + lockDelayMs + 1500:F0}", "quit w9.0 z 90000"]);
        var report = Checker.Check(s_all with { Faults = [quorum] }, inTime, [quorum]);
        Assert.True(report.Clean, string.Join("\n", report.Findings));

        // A leader that did not replay its log (the surviving server won the election) explains nothing.
        var survivorLeads = quorum with { ReplayedLockDelayUntil = null };
        Assert.Equal(2, Checker.Check(s_all with { Faults = [survivorLeads] }, inTime, [survivorLeads]).RecoveryViolations);

        // Nor does it explain more than itself.
        var late = Replay([.. lines, $"start w1.0 a 11 {4100 + lockDelayMs + 3000:F0}", $"start w2.0 b 12 {4100 + lockDelayMs + 1500:F0}", "quit w9.0 z 90000"]);
        Assert.Equal(1, Checker.Check(s_all with { Faults = [quorum] }, late, [quorum]).RecoveryViolations);
    }

    [Fact]
    public void A_fault_that_starts_before_the_bound_elapses_moves_the_bound_to_its_heal()
    {
        var history = Replay(
            "wait w1.0 a 3000",
            "start w1.0 a 11 9000",
            "end w1.0 a 11 9100 done",
            "wait w1.0 a 9200",
            "start w1.0 a 12 9300",
            "end w1.0 a 12 9400 done",
            "quit w9.0 z 60000");
        var election = new Fault("kill leader", Ms(2000), Ms(4000), null, MayCauseLoss: false);
        var nextInside = new Fault("w0: refuse 3 s", Ms(5000), Ms(8000), ["w0"], MayCauseLoss: false);
        var nextAfter = new Fault("w0: refuse 3 s", Ms(6500), Ms(8000), ["w0"], MayCauseLoss: false);

        // The next fault starts 1 s after the heal, within the bound: judged from its heal (8 s), the grant at 9 s is in time.
        var excused = Checker.Check(s_all with { Faults = [election, nextInside] }, history, [election, nextInside]);
        Assert.True(excused.Clean, string.Join("\n", excused.Findings));
        Assert.Equal(1000, excused.KeyHealToGrantMs!.Value, precision: 0);

        // Starting after the bound elapsed (6 s), it excuses nothing.
        var late = Checker.Check(s_all with { Faults = [election, nextAfter] }, history, [election, nextAfter]);
        Assert.Equal(1, late.RecoveryViolations);
    }

    /// <summary>Feeds lines (times in ms) to a real register, so that acceptance is the register's own decision.</summary>
    private static IReadOnlyList<RegisterEvent> Replay(params string[] lines)
    {
        var register = new FencedRegister();
        try
        {
            foreach (var line in lines)
            {
                var f = line.Split(' ');
                // start, end and lost carry a token before the time; wait, quit, timeout, error and why do not.
                var at = f[0] is "start" or "end" or "lost" ? 4 : 3;
                f[at] = Ms(long.Parse(f[at], System.Globalization.CultureInfo.InvariantCulture)).ToString(System.Globalization.CultureInfo.InvariantCulture);
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
