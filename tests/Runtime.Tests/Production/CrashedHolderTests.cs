using System.Diagnostics;
using System.Globalization;
using ConsulLock.Aop.Tests.Engine;
using ConsulLock.Aop.TestSupport;
using Xunit.Abstractions;

namespace ConsulLock.Aop.Tests.Production;

/// <summary>
/// The README's worst case for a crashed holder: Consul invalidates a session that stopped renewing within 2 x TTL,
/// then keeps its keys for the lock-delay. A holder process is killed with SIGKILL while another process waits.
/// </summary>
[Collection(ConsulCollection.Name)]
public sealed class CrashedHolderTests(ConsulAgentFixture fixture, ITestOutputHelper output) : ConsulTestContext(fixture)
{
    /// <summary>
    /// TTL and lock-delay of the holder. Small settings always; set CONSULLOCK_CRASH_SETTINGS (for example
    /// "00:00:15/00:00:15;00:00:10/00:00:01") to measure others, as the README's table was.
    /// </summary>
    public static TheoryData<string, string> Settings()
    {
        var rows = new TheoryData<string, string> { { "00:00:10", "00:00:01" } };
        foreach (var pair in (Environment.GetEnvironmentVariable("CONSULLOCK_CRASH_SETTINGS") ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = pair.Split('/');
            rows.Add(parts[0], parts[1]);
        }

        return rows;
    }

    [Theory]
    [MemberData(nameof(Settings))]
    public async Task A_killed_holder_blocks_its_key_no_longer_than_twice_the_TTL_plus_the_lock_delay(string ttlText, string lockDelayText)
    {
        var ttl = TimeSpan.Parse(ttlText, CultureInfo.InvariantCulture);
        var lockDelay = TimeSpan.Parse(lockDelayText, CultureInfo.InvariantCulture);
        var worstCase = 2 * ttl + lockDelay;
        var holder = Process.Start(new ProcessStartInfo("dotnet")
        {
            ArgumentList = { ContenderPath(), "hold", Agent.Address.ToString(), Prefix, "crash", ttlText, lockDelayText },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            var line = await holder.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(1));
            if (line?.StartsWith("held ", StringComparison.Ordinal) != true)
            {
                // The holder ended (or said something else): its error output is complete only then.
                holder.Kill();
                Assert.Fail($"holder said '{line}': {await holder.StandardError.ReadToEndAsync()}");
            }

            var heldToken = ulong.Parse(line!["held ".Length..], CultureInfo.InvariantCulture);

            var waiter = NewProvider();
            var waiting = waiter.AcquireAsync("crash").AsTask();
            await Task.WhenAny(waiting, Task.Delay(TimeSpan.FromSeconds(1)));
            Assert.False(waiting.IsCompleted, "the waiter got the key while the holder was alive");

            var clock = Stopwatch.StartNew();
            holder.Kill();
            await using var handle = await waiting.WaitAsync(worstCase + TimeSpan.FromSeconds(30));
            clock.Stop();
            output.WriteLine($"TTL {ttl.TotalSeconds:0}s, lock-delay {lockDelay.TotalSeconds:0}s: kill -9 to grant {clock.Elapsed.TotalSeconds:0.0} s (documented worst case {worstCase.TotalSeconds:0} s)");

            Assert.True(handle.FencingToken > heldToken);
            // Consul cannot invalidate the session before one TTL; the bound above it is generous for a busy machine.
            Assert.True(clock.Elapsed >= ttl, $"granted {clock.Elapsed} after the kill, before one TTL");
            Assert.True(clock.Elapsed <= worstCase + TimeSpan.FromSeconds(10), $"granted {clock.Elapsed} after the kill; documented worst case {worstCase}");
        }
        finally
        {
            if (!holder.HasExited)
            {
                holder.Kill(entireProcessTree: true);
            }

            await holder.WaitForExitAsync();
            holder.Dispose();
        }
    }

    private static string ContenderPath() => BuildOutput.PathOf(Path.Combine("tests", "LockContender"), "ConsulLock.Aop.LockContender");
}
