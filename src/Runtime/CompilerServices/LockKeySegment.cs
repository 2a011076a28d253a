using System.ComponentModel;
using System.Globalization;

namespace ConsulLock.Aop.CompilerServices;

/// <summary>
/// What generated code calls to turn a key placeholder into a key segment, beyond <see cref="LockKey.FormatSegment{T}"/>:
/// a placeholder with a format (<c>{day:yyyy-MM-dd}</c>), and the error for a null met on a member path.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class LockKeySegment
{
    /// <summary>
    /// Formats <paramref name="value"/> with <paramref name="format"/> and the invariant culture, then escapes it as
    /// <see cref="LockKey.FormatSegment{T}"/> does. The generator has checked that the value's type takes the format.
    /// </summary>
    /// <param name="value">The placeholder's value; an <see cref="IFormattable"/>.</param>
    /// <param name="format">The format written after the placeholder's ':'.</param>
    /// <param name="placeholder">The placeholder's path as written in the template; named in errors.</param>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null; the exception names the parameter.</exception>
    /// <exception cref="ArgumentException"><paramref name="value"/> formats to an empty string.</exception>
    public static string Format<T>(T value, string format, string placeholder)
    {
        ArgumentNullException.ThrowIfNull(format);
        ArgumentNullException.ThrowIfNull(placeholder);
        if (value is IFormattable formattable)
        {
            return LockKey.FormatSegment(formattable.ToString(format, CultureInfo.InvariantCulture), placeholder);
        }

        // Null (reported by FormatSegment, naming the parameter), or a type the generator would not have accepted.
        return LockKey.FormatSegment(value, placeholder);
    }

    /// <summary>
    /// The exception for a null met on the way along a placeholder's member path (<c>order</c> or
    /// <c>order.Customer</c> of <c>{order.Customer.Id}</c>): an <see cref="ArgumentNullException"/> naming the parameter,
    /// thrown before any network call.
    /// </summary>
    /// <param name="placeholder">The placeholder's path as written in the template.</param>
    /// <param name="reached">The part of the path that was null.</param>
    public static ArgumentNullException NullOnPath(string placeholder, string reached)
    {
        ArgumentNullException.ThrowIfNull(placeholder);
        ArgumentNullException.ThrowIfNull(reached);
        var dot = placeholder.IndexOf('.', StringComparison.Ordinal);
        return new ArgumentNullException(
            dot < 0 ? placeholder : placeholder[..dot],
            $"The lock key placeholder '{{{placeholder}}}' cannot be built: '{reached}' is null.");
    }
}
