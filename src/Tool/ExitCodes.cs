namespace ConsulLock.Aop.Tool;

/// <summary>What <c>consullock</c> exits with, for scripts; the README's command reference lists them.</summary>
internal static class ExitCodes
{
    /// <summary>The command did what it was asked (a watch stopped by Ctrl+C included).</summary>
    public const int Done = 0;

    /// <summary>Nobody holds the key (<c>show</c>, <c>release</c>); a key that holds plain data is held by nobody.</summary>
    public const int NoSuchLock = 1;

    /// <summary>The command line is wrong: an unknown command or option, a bad key or address, <c>release</c> without <c>--force</c>.</summary>
    public const int Usage = 2;

    /// <summary>Consul failed: unreachable, refused (a 403 from ACLs), or answered something unreadable. The message names the address.</summary>
    public const int ConsulFailed = 3;
}
