using System.Globalization;
using ConsulLock.Aop.CompilerServices;

namespace ConsulLock.Aop.Generators.Tests;

/// <summary>The runtime helper generated code calls for formatted placeholders and nulls on a member path.</summary>
public sealed class LockKeySegmentTests
{
    [Fact]
    public void A_format_is_applied_with_the_invariant_culture_whatever_the_current_one()
    {
        var previous = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = new CultureInfo("fr-FR");
        try
        {
            Assert.Equal("1234.50", LockKeySegment.Format(1234.5m, "F2", "amount"));
            Assert.Equal("2025-01-15", LockKeySegment.Format(new DateTime(2025, 1, 15), "yyyy-MM-dd", "day"));
            Assert.Equal("2025-01-15", LockKeySegment.Format((DateTime?)new DateTime(2025, 1, 15), "yyyy-MM-dd", "day"));
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }

    [Fact]
    public void What_a_format_produces_is_still_one_escaped_segment()
    {
        Assert.Equal("2025%2F01", LockKeySegment.Format(new DateTime(2025, 1, 15), "yyyy/MM", "day"));
    }

    [Fact]
    public void A_null_value_names_the_parameter_and_an_empty_text_is_refused()
    {
        Assert.Equal("order", Assert.Throws<ArgumentNullException>(() => LockKeySegment.Format((DateTime?)null, "yyyy", "order.Day")).ParamName);
        Assert.Throws<ArgumentException>(() => LockKeySegment.Format(0, "#", "count")); // "#" writes no digit for 0: an empty segment
    }

    [Fact]
    public void A_null_on_the_path_names_the_root_parameter_and_where_it_was()
    {
        var exception = LockKeySegment.NullOnPath("order.Customer.Id", "order.Customer");

        Assert.Equal("order", exception.ParamName);
        Assert.Contains("'{order.Customer.Id}'", exception.Message, StringComparison.Ordinal);
        Assert.Contains("'order.Customer' is null", exception.Message, StringComparison.Ordinal);
    }
}
