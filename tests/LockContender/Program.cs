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
