using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace ConsulLock.Aop.ChaosWorker;

/// <summary>
/// Writes the engine's warnings, and at Debug what each waiter waits for (event "Waiting": the key, a queued
/// predecessor, the lock-delay, a failing Consul), to standard error as <c>log &lt;monotonic timestamp&gt; &lt;level&gt; &lt;message&gt;</c>, one
/// line each, so that the harness can put them into the run's history beside the sections and faults of that moment.
/// </summary>
internal sealed class StderrLog : ILoggerProvider, ILogger
{
    private static readonly object s_write = new();

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (logLevel < LogLevel.Warning && eventId.Name != "Waiting")
        {
            return;
        }

        var at = Stopwatch.GetTimestamp();
        var cause = exception is null ? "" : $" ({exception.GetType().Name}: {exception.GetBaseException().Message})";
        var line = $"log {at} {logLevel} {formatter(state, exception)}{cause}".ReplaceLineEndings(" ");
        lock (s_write)
        {
            Console.Error.WriteLine(line);
        }
    }

    public void Dispose()
    {
    }
}
