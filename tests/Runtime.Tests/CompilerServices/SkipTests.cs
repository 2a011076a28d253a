using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using ConsulLock.Aop.Testing;
using ConsulLock.Aop.Tests.Engine;
using ConsulLock.Aop.TestSupport;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.Tests.CompilerServices;

/// <summary>
/// Issue 19: a skip is visible. A <c>[ConsulLocked]</c> method with <c>OnTimeout = Skip</c> that finds its key held
/// elsewhere returns <c>default</c> (false for <c>Task&lt;bool&gt;</c>), logs one Information event through the
/// provider's logger, counts one <c>consullock.skips</c>, and its acquire's outcome is <c>skipped</c>, not
/// <c>timeout</c>. The methods are generated, as a user's are.
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed partial class SkipTests(ConsulAgentFixture fixture) : ConsulTestContext(fixture)
{
    private const int SkippedEventId = 29;

    [Fact]
    public async Task A_skip_returns_false_logs_one_event_counts_one_skip_and_its_acquire_says_skipped()
    {
        var logs = new LogRecorder();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        // The dev agent enforces no ACLs, so any token does; it goes with every request and must never be logged.
        const string token = "5e2f0c1a-skip-test-token";
        await using var provider = new ConsulLockProvider(
            new ConsulLockOptions { Address = Agent.Address, KeyPrefix = Prefix, LockDelay = TimeSpan.Zero, Token = token }, loggerFactory);
        var job = new NightlyJob(provider);
        var held = await NewProvider().AcquireAsync("jobs/nightly");
        using var telemetry = new SkipTelemetry(Prefix + "jobs/nightly");

        var ran = await job.RunAsync("nightly", CancellationToken.None);

        Assert.False(ran);
        Assert.Equal(0, job.BodyRuns);
        Assert.Equal((1, 0), (telemetry.Skips, telemetry.Timeouts));
        Assert.Equal(["skipped"], telemetry.Outcomes);
        var skipped = Assert.Single(logs.Entries, e => e.Id == SkippedEventId);
        Assert.Equal(LogLevel.Information, skipped.Level);
        Assert.Equal(
            $"Skipped the body of a [ConsulLocked] method: the lock {Prefix}jobs/nightly was held elsewhere for 0s (its WaitTimeout; OnTimeout = Skip).",
            skipped.Message);
        Assert.DoesNotContain(logs.Entries, e => e.Message.Contains(token, StringComparison.Ordinal));

        // Free again: a call that skips after a wait runs its body and says so; nothing more is counted or logged as a
        // skip. (It waits: a try-once right after the release may still meet the queue entry the skipped try left.)
        await held.DisposeAsync();
        Assert.True(await job.RunWaitingAsync("nightly", CancellationToken.None));
        Assert.Equal(1, job.BodyRuns);
        Assert.Equal((1, 0), (telemetry.Skips, telemetry.Timeouts));
        Assert.Equal(["skipped", "acquired"], telemetry.Outcomes);
        Assert.Single(logs.Entries, e => e.Id == SkippedEventId);
    }

    [Fact]
    public async Task A_timeout_that_throws_is_a_timeout_not_a_skip()
    {
        var logs = new LogRecorder();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        await using var provider = new ConsulLockProvider(new ConsulLockOptions { Address = Agent.Address, KeyPrefix = Prefix, LockDelay = TimeSpan.Zero }, loggerFactory);
        var job = new NightlyJob(provider);
        await using var held = await NewProvider().AcquireAsync("jobs/strict");
        using var telemetry = new SkipTelemetry(Prefix + "jobs/strict");

        await Assert.ThrowsAsync<ConsulLockTimeoutException>(() => job.RunOrThrowAsync("strict", CancellationToken.None));

        Assert.Equal(0, job.BodyRuns);
        Assert.Equal((0, 1), (telemetry.Skips, telemetry.Timeouts));
        Assert.Equal(["timeout"], telemetry.Outcomes);
        Assert.DoesNotContain(logs.Entries, e => e.Id == SkippedEventId);
    }

    [Fact]
    public async Task On_the_in_memory_provider_a_skip_returns_false_and_is_counted()
    {
        await using var provider = new InMemoryConsulLockProvider();
        var job = new NightlyJob(provider);
        // Held by another flow: the holder's own flow asking again would be reentrancy, not a skip.
        var held = await Task.Run(async () => await provider.AcquireAsync("jobs/memory"));
        using var telemetry = new SkipTelemetry("jobs/memory");

        Assert.False(await job.RunAsync("memory", CancellationToken.None));
        await held.DisposeAsync();

        Assert.Equal(0, job.BodyRuns);
        Assert.Equal((1, 0), (telemetry.Skips, telemetry.Timeouts));
        Assert.True(await job.RunAsync("memory", CancellationToken.None));
        Assert.Equal(1, job.BodyRuns);
    }

    public sealed partial class NightlyJob(IConsulLockProvider locks)
    {
        private int _bodyRuns;

        public int BodyRuns => Volatile.Read(ref _bodyRuns);

        /// <summary>True when this call ran the job; false when another holder had it (a skip).</summary>
        [ConsulLocked("jobs/{name}", WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip)]
        public partial Task<bool> RunAsync(string name, CancellationToken cancellationToken);

        [ConsulLocked("jobs/{name}", WaitTimeout = "20s", OnTimeout = LockTimeoutBehavior.Skip, Body = nameof(RunCoreAsync))]
        public partial Task<bool> RunWaitingAsync(string name, CancellationToken cancellationToken);

        [ConsulLocked("jobs/{name}", WaitTimeout = "0s", Body = nameof(RunCoreAsync))]
        public partial Task<bool> RunOrThrowAsync(string name, CancellationToken cancellationToken);

        private Task<bool> RunCoreAsync(string name, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _bodyRuns);
            return Task.FromResult(true);
        }
    }

    /// <summary>
    /// The library's skip and timeout counters and the outcomes of the acquires of one key, as this test saw them. The
    /// counters carry no key, and other tests run beside this one: a measurement counts when it was made in a flow
    /// that started in this test (the instruments are incremented on the caller's flow).
    /// </summary>
    private sealed class SkipTelemetry : IDisposable
    {
        private static readonly AsyncLocal<SkipTelemetry?> s_current = new();
        private readonly MeterListener _meters = new();
        private readonly ActivityListener _activities;
        private readonly ConcurrentQueue<string> _outcomes = new();
        private int _skips;
        private int _timeouts;

        public SkipTelemetry(string key)
        {
            s_current.Value = this;
            _meters.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "ConsulLock.Aop" && instrument.Name is "consullock.skips" or "consullock.timeouts")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _meters.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
            {
                if (s_current.Value == this)
                {
                    Interlocked.Add(ref instrument.Name == "consullock.skips" ? ref _skips : ref _timeouts, (int)value);
                }
            });
            _meters.Start();
            _activities = new ActivityListener
            {
                ShouldListenTo = source => source.Name == "ConsulLock.Aop",
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = activity =>
                {
                    if (activity.OperationName == "ConsulLock.Acquire" && (string?)activity.GetTagItem("consullock.key") == key)
                    {
                        _outcomes.Enqueue((string)activity.GetTagItem("consullock.outcome")!);
                    }
                },
            };
            ActivitySource.AddActivityListener(_activities);
        }

        public int Skips => Volatile.Read(ref _skips);

        public int Timeouts => Volatile.Read(ref _timeouts);

        public string[] Outcomes => [.. _outcomes];

        public void Dispose()
        {
            _meters.Dispose();
            _activities.Dispose();
        }
    }

    private sealed class LogRecorder : ILoggerProvider
    {
        public ConcurrentQueue<(int Id, LogLevel Level, string Message)> Entries { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Recorder(this);

        public void Dispose()
        {
        }

        private sealed class Recorder(LogRecorder owner) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Entries.Enqueue((eventId.Id, logLevel, formatter(state, exception)));
        }
    }
}
