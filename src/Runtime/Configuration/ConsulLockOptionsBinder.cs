using System.Globalization;
using ConsulLock.Aop.Common;
using Microsoft.Extensions.Configuration;

namespace ConsulLock.Aop.Configuration;

/// <summary>
/// Reads <see cref="ConsulLockOptions"/> from configuration, for <see cref="ConsulLockOptions.Bind"/> and
/// <c>AddConsulLocking(section)</c>. Read by hand rather than with .NET's reflection-based binder, so the library stays
/// trimming- and AOT-safe and durations can be written as Consul writes them (.NET's binder reads a
/// <see cref="TimeSpan"/> only as "00:00:10"). Nothing here throws: what cannot be read is remembered and reported by
/// validation, named by its configuration path.
/// </summary>
internal static class ConsulLockOptionsBinder
{
    private const string DurationExpected = "a duration; write it like 15s, 250ms or 00:00:15";

    public static void Bind(IConfiguration configuration, ConsulLockOptions options)
    {
        var path = configuration is IConfigurationSection section ? section.Path : "";
        if (configuration[nameof(ConsulLockOptions.Address)] is { Length: > 0 } address
            && options.TrySetAddress(address, ConsulLockOptions.ConfigurationName(path, nameof(ConsulLockOptions.Address))))
        {
            options.MarkRead(nameof(ConsulLockOptions.Address), path);
        }

        if (configuration[nameof(ConsulLockOptions.Token)] is { Length: > 0 } token)
        {
            options.Token = token;
            options.MarkRead(nameof(ConsulLockOptions.Token), path);
        }

        if (configuration[nameof(ConsulLockOptions.Datacenter)] is { Length: > 0 } datacenter)
        {
            options.Datacenter = datacenter;
            options.MarkRead(nameof(ConsulLockOptions.Datacenter), path);
        }

        if (configuration[nameof(ConsulLockOptions.KeyPrefix)] is { } prefix)
        {
            options.KeyPrefix = prefix;
            options.MarkRead(nameof(ConsulLockOptions.KeyPrefix), path);
        }

        if (configuration[nameof(ConsulLockOptions.SessionName)] is { Length: > 0 } name)
        {
            options.SessionName = name;
            options.MarkRead(nameof(ConsulLockOptions.SessionName), path);
        }

        if (configuration[nameof(ConsulLockOptions.InstanceName)] is { Length: > 0 } instance)
        {
            options.InstanceName = instance;
            options.MarkRead(nameof(ConsulLockOptions.InstanceName), path);
        }

        if (Duration(configuration, options, path, nameof(ConsulLockOptions.SessionTtl)) is { } ttl)
        {
            options.SessionTtl = ttl;
            options.MarkRead(nameof(ConsulLockOptions.SessionTtl), path);
        }

        if (Duration(configuration, options, path, nameof(ConsulLockOptions.LockDelay)) is { } lockDelay)
        {
            options.LockDelay = lockDelay;
            options.MarkRead(nameof(ConsulLockOptions.LockDelay), path);
        }

        if (Duration(configuration, options, path, nameof(ConsulLockOptions.SessionIdleTimeout)) is { } idle)
        {
            options.SessionIdleTimeout = idle;
            options.MarkRead(nameof(ConsulLockOptions.SessionIdleTimeout), path);
        }

        if (Duration(configuration, options, path, nameof(ConsulLockOptions.RequestTimeout)) is { } requestTimeout)
        {
            options.RequestTimeout = requestTimeout;
            options.MarkRead(nameof(ConsulLockOptions.RequestTimeout), path);
        }

        if (configuration[nameof(ConsulLockOptions.Behavior)] is { Length: > 0 } behavior)
        {
            if (Enum.TryParse<SessionBehavior>(behavior, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed))
            {
                options.Behavior = parsed;
                options.MarkRead(nameof(ConsulLockOptions.Behavior), path);
            }
            else
            {
                options.AddUnreadable(nameof(ConsulLockOptions.Behavior), path, behavior, "Release or Delete");
            }
        }

        if (configuration[nameof(ConsulLockOptions.MaxConnections)] is { Length: > 0 } connections)
        {
            if (int.TryParse(connections.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var count))
            {
                options.MaxConnections = count;
                options.MarkRead(nameof(ConsulLockOptions.MaxConnections), path);
            }
            else
            {
                options.AddUnreadable(nameof(ConsulLockOptions.MaxConnections), path, connections, "a whole number (4 or more)");
            }
        }

        var checks = configuration.GetSection(nameof(ConsulLockOptions.SessionChecks)).GetChildren().Select(c => c.Value).OfType<string>().ToList();
        if (checks.Count > 0)
        {
            options.SessionChecks.Clear();
            foreach (var check in checks)
            {
                options.SessionChecks.Add(check);
            }

            options.MarkRead(nameof(ConsulLockOptions.SessionChecks), path);
        }
    }

    private static TimeSpan? Duration(IConfiguration configuration, ConsulLockOptions options, string path, string option)
    {
        var text = configuration[option];
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        if (!ConsulDuration.TryParse(text, out var value))
        {
            options.AddUnreadable(option, path, text, DurationExpected);
            return null;
        }

        options.RememberWritten(option, text, value);
        return value;
    }
}
