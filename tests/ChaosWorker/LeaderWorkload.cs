namespace ConsulLock.Aop.ChaosWorker;

/// <summary>
/// The leader workload: a flow that campaigns for <see cref="Key"/> until the worker stops. Each term is a section (a
/// fenced write at its start and end, its loss reported), held for a random time before the body returns and the
/// campaign resigns; a term that loses the key ends by its token and the campaign goes on by itself.
/// </summary>
internal static class LeaderWorkload
{
    public const string Key = "leader";

    public static async Task RunAsync(Sections sections, RegisterClient register, string flow, Random random, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await sections.LeadAsync(random.Next(500, 4000), stop);
            }
            catch (Exception ex) when (ex is ConsulLockException or HttpRequestException or ObjectDisposedException or InvalidOperationException)
            {
                var message = ex.Message.Length > 300 ? ex.Message[..300] : ex.Message;
                await register.SendAsync("error", flow, Key, System.Diagnostics.Stopwatch.GetTimestamp(), ex.GetType().Name + ":" + message);
                await Task.Delay(200, stop).ContinueWith(static _ => { }, TaskScheduler.Default);
            }
        }
    }
}
