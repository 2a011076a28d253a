using System.Net;
using System.Net.Sockets;

namespace ConsulLock.Aop.TestSupport;

/// <summary>Hands out loopback ports that are free right now. A race with another process is still possible;
/// agent start-up retries on a bind failure.</summary>
public static class FreePorts
{
    public static int[] Take(int count, IPAddress? address = null)
    {
        address ??= IPAddress.Loopback;
        var listeners = new List<TcpListener>();
        try
        {
            for (var i = 0; i < count; i++)
            {
                var listener = new TcpListener(address, 0);
                listener.Start();
                listeners.Add(listener);
            }

            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var listener in listeners)
            {
                listener.Stop();
            }
        }
    }
}
