using System.Globalization;
using ConsulLock.Aop;

// Usage: LockContender <consul address> <key prefix> <rounds> <shared folder>
// Each round takes the lock, proves nobody else is inside (an exclusive marker file), increments a counter file
// non-atomically, and releases. Exit code 2 = overlap seen, 0 = done.
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
