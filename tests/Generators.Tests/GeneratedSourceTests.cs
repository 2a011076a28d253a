using ConsulLock.Aop.Generators.Tests.Infrastructure;
using ConsulLock.Aop.Generators.Tests.Snapshotting;

namespace ConsulLock.Aop.Generators.Tests;

/// <summary>
/// The generated source for representative declarations, compared with checked-in snapshots (Snapshots/). Each
/// also compiles with no warning at all, as a user's project with warnings as errors and nullable enabled needs.
/// </summary>
public sealed class GeneratedSourceTests
{
    private const string Usings = GeneratorHarness.Usings;

    [Fact]
    public void Mission_example_with_angle_placeholder_and_primary_constructor_provider() => Verify("MissionExample", """
        namespace Webhooks;

        public sealed partial class WebhookReceiver(IConsulLockProvider locks)
        {
            [ConsulLocked("webhook_receiver/<id>")]
            public partial Task HandleAsync(int id, CancellationToken cancellationToken);

            private Task HandleCoreAsync(int id, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public void Semaphore_with_limit_wait_timeout_skip_and_session_settings() => Verify("Semaphore", """
        namespace Exports;

        public sealed partial class ExportJob(IConsulLockProvider locks)
        {
            [ConsulSemaphore("exports/{tenant}", Limit = 3)]
            public partial Task<int> ExportAsync(string tenant, CancellationToken cancellationToken);

            [ConsulSemaphore("exports/{tenant}", Limit = 3, WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip, SessionTtl = "30s", LockDelay = "0s")]
            public partial Task<bool> TryExportAsync(string tenant, CancellationToken cancellationToken);

            private Task<int> ExportCoreAsync(string tenant, ConsulLockContext permit, CancellationToken cancellationToken) => Task.FromResult(1);

            private Task<bool> TryExportCoreAsync(string tenant, CancellationToken cancellationToken) => Task.FromResult(true);
        }
        """);

    [Fact]
    public void Task_of_T_with_brace_placeholder_wait_timeout_and_field_provider() => Verify("TaskOfTWithField", """
        namespace Webhooks;

        public sealed record Receipt(string Id);

        public sealed partial class WebhookReceiver
        {
            private readonly IConsulLockProvider _locks;

            public WebhookReceiver(IConsulLockProvider locks) => _locks = locks;

            [ConsulLocked("webhook_receiver/{id}", WaitTimeout = "30s")]
            public partial Task<Receipt> ReceiveAsync(string id, string payload, CancellationToken cancellationToken);

            private Task<Receipt> ReceiveCoreAsync(string id, string payload, CancellationToken cancellationToken) => Task.FromResult(new Receipt(id));
        }
        """);

    [Fact]
    public void Member_path_through_nullable_references_and_values() => Verify("MemberPath", """
        namespace Shop;

        public sealed record Customer(int Id, string Region);
        public sealed record Order(Customer Customer, int? Batch);

        public partial class Orders(IConsulLockProvider locks)
        {
            [ConsulLocked("orders/{order.Customer.Region}/{order.Customer.Id}/{order.Batch}")]
            public partial Task ShipAsync(Order order, CancellationToken cancellationToken);

            private Task ShipCoreAsync(Order order, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public void Several_placeholders_and_doubled_literal_braces() => Verify("SeveralPlaceholders", """
        namespace Jobs;

        public enum Tier { Free, Paid }

        public partial class Reports(IConsulLockProvider locks)
        {
            [ConsulLocked("reports/{{tenant}}/{tenant}-{tier}/<<{year}>>")]
            public partial Task BuildAsync(System.Guid tenant, Tier tier, int year, CancellationToken cancellationToken);

            private Task BuildCoreAsync(System.Guid tenant, Tier tier, int year, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public void Every_attribute_property() => Verify("AllProperties", """
        namespace Jobs;

        public partial class Nightly(IConsulLockProvider locks)
        {
            [ConsulLocked("nightly/{name}", WaitTimeout = "0s", OnTimeout = LockTimeoutBehavior.Skip, SessionTtl = "1m30s",
                LockDelay = "250ms", Behavior = SessionBehavior.Delete, Body = nameof(RunNightly))]
            public partial Task RunAsync(string name, CancellationToken cancellationToken);

            private Task RunNightly(string name, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public void ValueTask_with_a_body_that_takes_the_lock_context() => Verify("ValueTaskWithContext", """
        namespace Ledger;

        public partial class Ledger(IConsulLockProvider locks)
        {
            [ConsulLocked("ledger/{account}")]
            public partial ValueTask PostAsync(long account, decimal amount, CancellationToken cancellationToken);

            private ValueTask PostCoreAsync(long account, decimal amount, CancellationToken cancellationToken, ConsulLockContext lockContext) => default;
        }
        """);

    [Fact]
    public void A_body_that_takes_the_lock_context_before_its_token() => Verify("ContextBeforeToken", """
        namespace Ledger;

        public partial class Ledger(IConsulLockProvider locks)
        {
            [ConsulLocked("ledger/{account}")]
            public partial Task<long> PostAsync(long account, CancellationToken cancellationToken);

            private Task<long> PostCoreAsync(long account, ConsulLockContext lockContext, CancellationToken cancellationToken) => Task.FromResult((long)lockContext.FencingToken);
        }
        """);

    [Fact]
    public void ValueTask_of_T_without_a_token_whose_body_takes_the_lost_token() => Verify("ValueTaskOfTLostToken", """
        namespace Ledger;

        public partial class Balances(IConsulLockProvider locks)
        {
            [ConsulLocked("balance/{account}")]
            public partial ValueTask<decimal> ReadAsync(long account);

            private ValueTask<decimal> ReadCoreAsync(long account, CancellationToken lockLost) => new(0m);
        }
        """);

    [Fact]
    public void Static_method_uses_ConsulLocking_Default() => Verify("StaticDefaultProvider", """
        namespace Migrations;

        public static partial class Migrator
        {
            [ConsulLocked("migrations/{database}")]
            public static partial Task MigrateAsync(string database, CancellationToken cancellationToken);

            private static Task MigrateCoreAsync(string database, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public void Generic_method_with_constraints() => Verify("GenericMethod", """
        namespace Caches;

        public interface IEntity { string Id { get; } }

        public partial class Refresher(IConsulLockProvider locks)
        {
            [ConsulLocked("refresh/{entity.Id}")]
            internal partial Task<TResult?> RefreshAsync<TEntity, TResult>(TEntity entity, CancellationToken cancellationToken)
                where TEntity : class, IEntity
                where TResult : struct;

            private Task<TResult?> RefreshCoreAsync<TEntity, TResult>(TEntity entity, CancellationToken cancellationToken)
                where TEntity : class, IEntity
                where TResult : struct => Task.FromResult<TResult?>(null);
        }
        """);

    [Fact]
    public void Nested_generic_containing_types() => Verify("NestedGenericTypes", """
        namespace Outer;

        public partial class Workers<TMessage>
            where TMessage : notnull
        {
            internal sealed partial class Worker(IConsulLockProvider locks)
            {
                [ConsulLocked("workers/{message}")]
                public partial Task ProcessAsync(TMessage message, CancellationToken cancellationToken);

                private Task ProcessCoreAsync(TMessage message, CancellationToken cancellationToken) => Task.CompletedTask;
            }
        }
        """);

    [Fact]
    public void Record_struct_with_a_property_provider() => Verify("RecordStructProperty", """
        namespace Schedules;

        public readonly partial record struct Schedule(IConsulLockProvider Locks, string Name)
        {
            [ConsulLocked("schedules/{slot}")]
            public partial Task<int> TickAsync(int slot, CancellationToken cancellationToken);

            private Task<int> TickCoreAsync(int slot, CancellationToken cancellationToken) => Task.FromResult(slot);
        }
        """);

    [Fact]
    public void Global_namespace_keyword_parameter_names_and_overloads() => Verify("GlobalNamespaceOverloads", """
        public partial class Tasks
        {
            public IConsulLockProvider? Locks { get; init; }

            [ConsulLocked("tasks/{class}", Body = nameof(RunCore))]
            public partial Task RunAsync(string @class, CancellationToken lockKey);

            [ConsulLocked("tasks/{class}/{n}", Body = nameof(RunCore))]
            public partial Task RunAsync(string @class, int n, CancellationToken cancellationToken);

            private Task RunCore(string @class, CancellationToken lockKey) => Task.CompletedTask;

            private Task RunCore(string @class, int n, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """);

    [Fact]
    public void Struct_with_params_and_a_nullable_result() => Verify("StructParams", """
        namespace Batches;

        public partial struct Batcher
        {
            [ConsulLocked("batch/{name}")]
            public static partial Task<string?> RunAsync(string name, CancellationToken cancellationToken, params int[] items);

            private static Task<string?> RunCoreAsync(string name, CancellationToken cancellationToken, params int[] items) => Task.FromResult<string?>(null);
        }
        """);

    [Fact]
    public void A_placeholder_next_to_a_generated_lock_for_a_method_with_errors() => Verify("Placeholder", """
        namespace Jobs;

        public partial class Importer(IConsulLockProvider locks)
        {
            // CLA003: no parameter 'batch'. The generator reports it and writes a throwing placeholder.
            [ConsulLocked("imports/{batch}")]
            public partial Task<int> ImportAsync<T>(int batchId, CancellationToken cancellationToken) where T : notnull;

            [ConsulLocked("imports/{batchId}/cleanup")]
            public partial Task CleanUpAsync(int batchId, CancellationToken cancellationToken);

            private Task CleanUpCoreAsync(int batchId, CancellationToken cancellationToken) => Task.CompletedTask;
        }
        """, "CLA003", "CLA006");

    [Fact]
    public void Formats_a_provider_parameter_and_an_override() => Verify("FormatsProviderParameterOverride", """
        namespace Reports;

        public abstract class Job
        {
            public abstract Task<string> RunAsync<T>(IConsulLockProvider locks, System.DateTime day, T scope, CancellationToken cancellationToken) where T : notnull;
        }

        public sealed partial class DailyReport : Job
        {
            // The provider is the method's parameter; the override's constraints are inherited, not repeated.
            [ConsulLocked("reports/{day:yyyy-MM-dd}/{scope}")]
            public override partial Task<string> RunAsync<T>(IConsulLockProvider locks, System.DateTime day, T scope, CancellationToken cancellationToken);

            private Task<string> RunCoreAsync<T>(IConsulLockProvider locks, System.DateTime day, T scope, CancellationToken cancellationToken) where T : notnull =>
                Task.FromResult(day.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        }
        """);

    [Fact]
    public void Parameters_named_like_what_the_generated_code_uses() => Verify("NameCollisions", """
        namespace Sync;

        public sealed partial class Syncer(IConsulLockProvider locks)
        {
            // Each parameter is named like something the generated code reads or declares: the provider (a primary
            // constructor parameter, read through a member), its locals, the body, the settings field.
            [ConsulLocked("sync/{locks}/{lockKey}")]
            public partial Task SyncAsync(string locks, string lockKey, int lockContext, object SyncCoreAsync, string __SyncAsyncLockSettings, CancellationToken cancellationToken);

            private Task SyncCoreAsync(string locks, string lockKey, int lockContext, object SyncCoreAsync, string __SyncAsyncLockSettings, CancellationToken cancellationToken) =>
                Task.CompletedTask;
        }
        """);

    /// <summary>Checks the generated file against its snapshot; the compiler must find nothing, the generator only <paramref name="expectedErrors"/>.</summary>
    [Fact]
    public void Leader_from_the_contract_with_a_keyed_leader_and_settings() => Verify("Leader", """
        namespace Reports;

        public sealed partial class ReportScheduler(IConsulLockProvider locks)
        {
            public Task RunAsync(CancellationToken stoppingToken) => LeadAsync(stoppingToken);

            [ConsulLeader("leaders/report-scheduler")]
            private partial Task LeadAsync(CancellationToken cancellationToken);

            private Task LeadCoreAsync(ConsulLockContext term, CancellationToken whileLeader) => Task.CompletedTask;

            [ConsulLeader("leaders/{region}", SessionTtl = "30s", LockDelay = "5s")]
            public partial Task LeadRegionAsync(string region, CancellationToken cancellationToken);

            private Task LeadRegionCoreAsync(string region, CancellationToken whileLeader) => Task.CompletedTask;
        }
        """);

    private static void Verify(string name, string source, params string[] expectedErrors)
    {
        var output = GeneratorHarness.Generate(Usings + source);
        Assert.True(output.CompilerDiagnostics.Count == 0, string.Join("\n", output.CompilerDiagnostics));
        Assert.Equal(expectedErrors, output.GeneratorDiagnostics.Select(d => d.Id).Order(StringComparer.Ordinal));
        Snapshot.Match(output.Single, name);
    }
}
