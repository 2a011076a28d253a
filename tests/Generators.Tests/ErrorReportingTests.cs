using ConsulLock.Aop.Generators.Tests.Infrastructure;
using ConsulLock.Aop.Testing;
using Microsoft.CodeAnalysis;

namespace ConsulLock.Aop.Generators.Tests;

/// <summary>
/// No error slips through: the generator reports every CLA error itself, and when the build's configuration silences
/// one anyway (NoWarn, a global config), the generated file repeats it as a compiler error. Plus placeholder formats
/// (CLA014).
/// </summary>
public sealed class ErrorReportingTests
{
    private const string Misuse = """
        public partial class Jobs
        {
            [ConsulLocked("jobs/{job}")]
            public partial Task RunAsync(int id, CancellationToken ct);

            private Task RunCoreAsync(int id, CancellationToken ct) => Task.CompletedTask;
        }
        """;

    [Fact]
    public void Without_configuration_the_error_is_ours_alone()
    {
        var build = CompiledCode.Build(Misuse);

        Assert.Equal(["CLA003"], build.Generator.Select(d => d.Id));
        Assert.DoesNotContain("SilencedErrors", build.Generated, StringComparison.Ordinal);
        Assert.Empty(build.Compiler);
    }

    [Theory]
    [InlineData(ReportDiagnostic.Suppress)]
    [InlineData(ReportDiagnostic.Hidden)]
    [InlineData(ReportDiagnostic.Warn)]
    public void NoWarn_or_a_lowered_severity_still_fails_the_build_with_our_message(ReportDiagnostic lowered)
    {
        var build = CompiledCode.Build(Misuse, options => options.WithSpecificDiagnosticOptions([new("CLA003", lowered)]));

        var errors = build.Compiler.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.NotEmpty(errors);
        Assert.All(errors, e => Assert.Equal("CS0619", e.Id)); // the use of an [Obsolete(error: true)] type, which no configuration silences
        var error = errors[0];
        Assert.Contains("CLA003: The placeholder '{job}' names no parameter 'job'", error.GetMessage(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("CLA017", "public partial Task LeadAsync();")]
    [InlineData("CLA018", "public partial ValueTask LeadAsync(CancellationToken cancellationToken);")]
    [InlineData("CLA019", "[ConsulLocked(\"leaders/x\")] public partial Task LeadAsync(CancellationToken cancellationToken);")]
    public void A_leaders_error_stops_the_build_also_when_configuration_silences_it(string id, string declaration)
    {
        var source = $$"""
            public partial class Scheduler
            {
                [ConsulLeader("leaders/x")]
                {{declaration}}

                private Task LeadCoreAsync(ConsulLockContext term, CancellationToken whileLeader) => Task.CompletedTask;
            }
            """;

        Assert.Equal([id], CompiledCode.Build(source).Generator.Select(d => d.Id));
        var silenced = CompiledCode.Build(source, options => options.WithSpecificDiagnosticOptions([new(id, ReportDiagnostic.Suppress)]));
        Assert.Contains(silenced.Compiler, d => d.Id == "CS0619" && d.GetMessage(System.Globalization.CultureInfo.InvariantCulture).Contains(id, StringComparison.Ordinal));
    }

    [Fact]
    public void A_global_config_severity_still_fails_the_build()
    {
        var build = CompiledCode.Build(Misuse, options => options.WithSyntaxTreeOptionsProvider(new LoweredEverywhere("CLA003")));

        Assert.Contains(build.Compiler, d => d.Id == "CS0619" && d.GetMessage(System.Globalization.CultureInfo.InvariantCulture).Contains("CLA003", StringComparison.Ordinal));
    }

    [Fact]
    public void A_lowered_error_where_no_placeholder_can_be_written_still_fails_the_build()
    {
        // CLA001 on an ordinary method: without #error, lowering it would leave a green build and no lock.
        var build = CompiledCode.Build("""
            public partial class Jobs
            {
                [ConsulLocked("jobs/{id}")]
                public Task RunAsync(int id, CancellationToken ct) => Task.CompletedTask;
            }
            """, options => options.WithSpecificDiagnosticOptions([new("CLA001", ReportDiagnostic.Suppress)]));

        Assert.Contains(build.Compiler, d => d.Id == "CS0619" && d.GetMessage(System.Globalization.CultureInfo.InvariantCulture).Contains("CLA001", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("{name:yyyy}", "string name", "not IFormattable")]
    [InlineData("{day:Q}", "System.DateTime day", "cannot take it")]
    [InlineData("{day:}", "System.DateTime day", "the format is empty")]
    [InlineData("{id:Z}", "System.Guid id", "cannot take it")]
    [InlineData("{kind:yyyy}", "System.DayOfWeek kind", "cannot take it")]
    [InlineData("{item:N0}", "T item", "not IFormattable")]
    public void A_format_the_value_cannot_take_is_CLA014(string placeholder, string parameter, string problem)
    {
        var build = CompiledCode.Build($$"""
            public partial class Reports(IConsulLockProvider locks)
            {
                [ConsulLocked("reports/{{placeholder}}")]
                public partial Task RunAsync<T>({{parameter}}, CancellationToken ct);

                private Task RunCoreAsync<T>({{parameter}}, CancellationToken ct) => Task.CompletedTask;
            }
            """);

        build.AssertOnly("CLA014", problem);
    }

    [Fact]
    public async Task Formats_are_applied_with_the_invariant_culture_and_escaped()
    {
        var build = CompiledCode.Build("""
            public sealed record Invoice(decimal Amount, System.DateTimeOffset At);

            public partial class Reports(IConsulLockProvider locks)
            {
                [ConsulLocked("reports/{day:yyyy-MM-dd}/{invoice.Amount:F2}/{invoice.At:yyyy/MM}/{kind:D}/{count:X4}")]
                public partial Task<string> RunAsync(System.DateTime day, Invoice invoice, System.DayOfWeek kind, int? count, CancellationToken ct);

                private Task<string> RunCoreAsync(System.DateTime day, Invoice invoice, System.DayOfWeek kind, int? count, ConsulLockContext context, CancellationToken ct) =>
                    Task.FromResult(context.Key);
            }
            """);
        build.AssertClean();

        var type = CompiledCode.Load(build.Output).GetType("Reports")!;
        var reports = Activator.CreateInstance(type, new InMemoryConsulLockProvider())!;
        var invoice = Activator.CreateInstance(type.Assembly.GetType("Invoice")!, 1234.5m, new DateTimeOffset(2025, 3, 1, 0, 0, 0, TimeSpan.Zero))!;
        var previous = System.Globalization.CultureInfo.CurrentCulture;
        System.Globalization.CultureInfo.CurrentCulture = new System.Globalization.CultureInfo("de-DE"); // a comma for decimals
        try
        {
            var key = await (Task<string>)type.GetMethod("RunAsync")!.Invoke(reports, [new DateTime(2025, 1, 15), invoice, DayOfWeek.Friday, 255, CancellationToken.None])!;
            Assert.Equal("reports/2025-01-15/1234.50/2025%2F03/5/00FF", key);

            var nullCount = await Assert.ThrowsAsync<ArgumentNullException>(() => (Task<string>)type.GetMethod("RunAsync")!.Invoke(
                reports, System.Reflection.BindingFlags.DoNotWrapExceptions, null, [new DateTime(2025, 1, 15), invoice, DayOfWeek.Friday, null, CancellationToken.None], null)!);
            Assert.Equal("count", nullCount.ParamName);
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = previous;
        }
    }

    [Fact]
    public async Task A_null_on_a_member_path_names_the_parameter_before_any_lock_is_taken()
    {
        var build = CompiledCode.Build("""
            public sealed class Customer { public string? Region { get; init; } }
            public sealed class Order { public Customer? Customer { get; init; } }

            public partial class Orders(IConsulLockProvider locks)
            {
                [ConsulLocked("orders/{order.Customer.Region}")]
                public partial Task ShipAsync(Order? order, CancellationToken ct);

                private Task ShipCoreAsync(Order? order, CancellationToken ct) => Task.CompletedTask;
            }
            """);
        build.AssertClean();

        var assembly = CompiledCode.Load(build.Output);
        var locks = new InMemoryConsulLockProvider();
        var orders = Activator.CreateInstance(assembly.GetType("Orders")!, locks)!;
        var ship = assembly.GetType("Orders")!.GetMethod("ShipAsync")!;
        foreach (var order in new[] { null, Activator.CreateInstance(assembly.GetType("Order")!) })
        {
            var exception = await Assert.ThrowsAsync<ArgumentNullException>(() => (Task)ship.Invoke(orders, System.Reflection.BindingFlags.DoNotWrapExceptions, null, [order, CancellationToken.None], null)!);
            Assert.Equal("order", exception.ParamName);
            Assert.Contains(order is null ? "'order' is null" : "'order.Customer' is null", exception.Message, StringComparison.Ordinal);
        }

        Assert.Equal(0, locks.GrantCount);
    }

    /// <summary>A global config (.globalconfig) that sets one id's severity to none.</summary>
    private sealed class LoweredEverywhere(string id) : SyntaxTreeOptionsProvider
    {
        public override GeneratedKind IsGenerated(SyntaxTree tree, CancellationToken cancellationToken) => GeneratedKind.Unknown;

        public override bool TryGetDiagnosticValue(SyntaxTree tree, string diagnosticId, CancellationToken cancellationToken, out ReportDiagnostic severity)
        {
            severity = default;
            return false;
        }

        public override bool TryGetGlobalDiagnosticValue(string diagnosticId, CancellationToken cancellationToken, out ReportDiagnostic severity)
        {
            severity = ReportDiagnostic.Suppress;
            return diagnosticId == id;
        }
    }
}
