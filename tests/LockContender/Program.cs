using System.Globalization;
using ConsulLock.Aop;

// Usage: LockContender <consul address> <key prefix> <rounds> <shared folder>
// Each round takes the lock, proves nobody else is inside (an exclusive marker file), increments a counter file
// non-atomically, and releases. Exit code 2 = overlap seen, 0 = done.
// Usage: LockContender hold <consul address> <key prefix> <key> <session TTL> <lock-delay>
// Takes the key, prints "held <fencing token>" and holds it until killed (the crash test kills it with SIGKILL).
if (args[0] == "hold")
{
    await using var holder = new ConsulLockProvider(new ConsulLockOptions
    {
        Address = new Uri(args[1]),
        KeyPrefix = args[2],
        SessionTtl = TimeSpan.Parse(args[4], CultureInfo.InvariantCulture),
        LockDelay = TimeSpan.Parse(args[5], CultureInfo.InvariantCulture),
    });
    await using var held = await holder.AcquireAsync(args[3]);
    Console.WriteLine($"held {held.FencingToken}");
    await Task.Delay(Timeout.Infinite);
    return 0;
}

// Usage: LockContender hold-min <consul address> <key prefix> <key> <MinHold>
// Takes the key with a minimum hold, prints "held <fencing token>", releases it (the hold goes on in Consul), prints
// "released" and waits until killed (the MinHold test kills it with SIGKILL during the hold).
if (args[0] == "hold-min")
{
    var jobs = new ConsulLockProvider(new ConsulLockOptions { Address = new Uri(args[1]), KeyPrefix = args[2], LockDelay = TimeSpan.Zero });
    var job = await jobs.AcquireAsync(args[3], new ConsulLockRequest { MinHold = TimeSpan.Parse(args[4], CultureInfo.InvariantCulture) });
    Console.WriteLine($"held {job.FencingToken}");
    await job.DisposeAsync();
    Console.WriteLine("released");
    await Task.Delay(Timeout.Infinite);
    return 0;
}

// Usage: LockContender hold-permit <consul address> <key prefix> <semaphore prefix> <limit> <session TTL>
// Takes a permit, prints "held <fencing token> <session>" and holds it until killed (the crash test kills it with SIGKILL).
if (args[0] == "hold-permit")
{
    await using var holder = new ConsulLockProvider(new ConsulLockOptions
    {
        Address = new Uri(args[1]),
        KeyPrefix = args[2],
        SessionTtl = TimeSpan.Parse(args[5], CultureInfo.InvariantCulture),
    });
    await using var held = await holder.AcquireSemaphoreAsync(args[3], int.Parse(args[4], CultureInfo.InvariantCulture));
    Console.WriteLine($"held {held.FencingToken} {held.SessionId}");
    await Task.Delay(Timeout.Infinite);
    return 0;
}

// Usage: LockContender semaphore <consul address> <key prefix> <semaphore prefix> <limit> <callers> <rounds> <shared folder>
// Each caller takes a permit <rounds> times; each body writes a file of its own into <folder>/inside, counts the
// files there (the bodies in progress in every process), keeps the highest count in <folder>/max-<pid>, and removes
// its file. Exit code 2 = more than <limit> bodies seen at once, 0 = done.
if (args[0] == "semaphore")
{
    var limit = int.Parse(args[4], CultureInfo.InvariantCulture);
    var callers = int.Parse(args[5], CultureInfo.InvariantCulture);
    var semaphoreRounds = int.Parse(args[6], CultureInfo.InvariantCulture);
    var inside = Path.Combine(args[7], "inside");
    var seenMost = 0;
    await using var permits = new ConsulLockProvider(new ConsulLockOptions { Address = new Uri(args[1]), KeyPrefix = args[2], LockDelay = TimeSpan.Zero });
    await Task.WhenAll(Enumerable.Range(0, callers).Select(caller => Task.Run(async () =>
    {
        for (var round = 0; round < semaphoreRounds; round++)
        {
            await using var permit = await permits.AcquireSemaphoreAsync(args[3], limit);
            var mine = Path.Combine(inside, $"{Environment.ProcessId}-{caller}-{round}");
            await File.WriteAllTextAsync(mine, permit.SessionId);
            var seen = Directory.GetFiles(inside).Length;
            InterlockedMax(ref seenMost, seen);
            await Task.Delay(Random.Shared.Next(5, 30));
            File.Delete(mine);
        }
    })));
    await File.WriteAllTextAsync(Path.Combine(args[7], $"max-{Environment.ProcessId}"), seenMost.ToString(CultureInfo.InvariantCulture));
    Console.WriteLine($"done {callers * semaphoreRounds} max {seenMost}");
    return seenMost > limit ? 2 : 0;

    static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}

var address = new Uri(args[0]);
var prefix = args[1];
var rounds = int.Parse(args[2], CultureInfo.InvariantCulture);
var folder = args[3];
var marker = Path.Combine(folder, "inside");
var counterFile = Path.Combine(folder, "counter");

await using var provider = new ConsulLockProvider(new ConsulLockOptions { Address = address, KeyPrefix = prefix, LockDelay = TimeSpan.Zero });
for (var round = 0; round < rounds; round++)
{
    await using var handle = await provider.AcquireAsync("cross-process");
    try
    {
        await using (new FileStream(marker, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose))
        {
            var value = int.Parse(await File.ReadAllTextAsync(counterFile), CultureInfo.InvariantCulture);
            await Task.Yield();
            await File.WriteAllTextAsync(counterFile, (value + 1).ToString(CultureInfo.InvariantCulture));
        }
    }
    catch (IOException ex) when (File.Exists(marker))
    {
        Console.Error.WriteLine($"overlap in round {round}: {ex.Message}");
        return 2;
    }
}

Console.WriteLine($"done {rounds}");
return 0;
