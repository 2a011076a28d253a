using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace ConsulLock.Aop.Generators.Diagnostics;

/// <summary>
/// Every diagnostic the generator's analyzer reports, in one place. Ids are stable: users suppress them by id.
/// Each id has a page in docs/diagnostics/.
/// </summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "ConsulLock.Aop";

    public static readonly DiagnosticDescriptor NotPartialMethod = Error(
        "CLA001",
        "A [ConsulLocked] method must be a partial method declaration without a body",
        "'{0}' must be a partial method declaration without a body: declare it 'partial', end it with ';' and move its body to '{1}'");

    public static readonly DiagnosticDescriptor ContainingTypeNotPartial = Error(
        "CLA002",
        "The type that contains a [ConsulLocked] method must be partial",
        "The type '{0}' must be declared 'partial' so the lock can be generated into it for '{1}'");

    public static readonly DiagnosticDescriptor UnknownPlaceholder = Error(
        "CLA003",
        "A key placeholder names no parameter or member",
        "The placeholder '{{{0}}}' names {1}; use a parameter of '{2}'{3}");

    public static readonly DiagnosticDescriptor MalformedKey = Error(
        "CLA004",
        "The lock key template is malformed",
        "The lock key template \"{0}\" is malformed: {1}; fix the template");

    public static readonly DiagnosticDescriptor UnsupportedReturnType = Error(
        "CLA005",
        "A [ConsulLocked] method must return Task, Task<T>, ValueTask or ValueTask<T>",
        "'{0}' returns '{1}'; make it return Task, Task<T>, ValueTask or ValueTask<T>, since taking a lock is asynchronous");

    public static readonly DiagnosticDescriptor BodyMismatch = Error(
        "CLA006",
        "The body method is missing or does not match",
        "{0}; declare '{1}' returning '{2}' with the parameters ({3}), optionally followed by a ConsulLockContext{4}");

    public static readonly DiagnosticDescriptor BadDuration = Error(
        "CLA007",
        "A duration is malformed or out of range",
        "{0} = \"{1}\" {2}; write a duration in Consul's notation such as \"250ms\", \"10s\" or \"5m\"{3}");

    public static readonly DiagnosticDescriptor UnsupportedParameter = Error(
        "CLA008",
        "A [ConsulLocked] method cannot take ref, out, in or ref struct parameters",
        "The parameter '{0}' of '{1}' is {2}, which cannot cross the asynchronous lock; pass it by value");

    public static readonly DiagnosticDescriptor BodyCannotObserveLoss = Warning(
        "CLA009",
        "The body cannot observe lock loss",
        "The body '{0}' takes no CancellationToken and no ConsulLockContext, so it keeps running when the lock is lost; add a CancellationToken parameter to '{1}' and '{0}', or a last ConsulLockContext parameter to '{0}'");

    public static readonly DiagnosticDescriptor UnstablePlaceholder = Warning(
        "CLA010",
        "A placeholder value has no stable text form",
        "The placeholder '{{{0}}}' has type '{1}', {2}, so the key would not identify the value; use a member with a stable text form such as an id");

    public static readonly DiagnosticDescriptor SkipReturnsDefault = Warning(
        "CLA011",
        "OnTimeout = Skip on a method whose result cannot say it was skipped",
        "'{0}' returns {1}, and with OnTimeout = Skip its callers get default({2}) when the lock is busy, which they can take for a result; declare {3}, or use OnTimeout = Throw");

    public static readonly DiagnosticDescriptor BodyCalledDirectly = Error(
        "CLA012",
        "The body of a [ConsulLocked] method is called directly",
        "'{0}' is the body of the [ConsulLocked] method '{1}'; calling it directly bypasses the lock, call '{1}' instead");

    public static readonly DiagnosticDescriptor NoLockCanBeGenerated = Error(
        "CLA013",
        "[ConsulLocked] is on something no lock can be generated for",
        "[ConsulLocked] on {0} has no effect, since only a partial method of a partial type can be given a generated lock; move the attribute to a partial method declaration and call it from here");

    public static readonly DiagnosticDescriptor BadPlaceholderFormat = Error(
        "CLA014",
        "A key placeholder's format cannot be applied to its value",
        "The placeholder '{{{0}}}' has the format \"{1}\", but {2}; {3}");

    public static readonly DiagnosticDescriptor ProviderChoice = Error(
        "CLA015",
        "The lock provider of a [ConsulLocked] method is ambiguous or not found",
        "{0}; {1}");

    public static readonly DiagnosticDescriptor HoldLimitsInverted = Error(
        "CLA016",
        "MinHold is longer than MaxHold",
        "MinHold = \"{0}\" is longer than MaxHold = \"{1}\": the key would have to be released at the limit and still held; shorten MinHold or lengthen MaxHold");

    public static readonly DiagnosticDescriptor LeaderWithoutToken = Error(
        "CLA017",
        "A [ConsulLeader] method must take a CancellationToken",
        "'{0}' campaigns until its caller's token fires, but takes no CancellationToken; add a 'CancellationToken cancellationToken' parameter (a BackgroundService passes its stoppingToken)");

    public static readonly DiagnosticDescriptor LeaderReturnType = Error(
        "CLA018",
        "A [ConsulLeader] method must return Task",
        "'{0}' returns '{1}'; make it return Task: a campaign has no result, it ends when the caller's token fires or the body returns");

    public static readonly DiagnosticDescriptor LeaderAndLocked = Error(
        "CLA019",
        "A [ConsulLeader] method cannot also be [ConsulLocked] or [ConsulSemaphore]",
        "'{0}' has both [ConsulLeader] and [{1}]; keep one: [ConsulLeader] to run the body as long as this instance leads, [{1}] to run it once per call under {2}");
    public static readonly DiagnosticDescriptor BadSemaphoreLimit = Error(
        "CLA020",
        "A [ConsulSemaphore] needs a Limit of at least 1",
        "[ConsulSemaphore] on '{0}' has {1}: set Limit to how many bodies may run at once across all processes, at least 1 (Limit = 3), the same for every holder of the prefix");

    public static readonly DiagnosticDescriptor SemaphoreAndLock = Error(
        "CLA021",
        "[ConsulSemaphore] and [ConsulLocked] on one method",
        "'{0}' has both [ConsulSemaphore] and [ConsulLocked]: a method runs under a lock or a permit, not both; remove one (a semaphore with Limit = 1 excludes as a lock does, in the Go client's semaphore layout)");

    private static readonly Dictionary<string, DiagnosticDescriptor> s_byId = new[]
    {
        NotPartialMethod, ContainingTypeNotPartial, UnknownPlaceholder, MalformedKey, UnsupportedReturnType, BodyMismatch,
        BadDuration, UnsupportedParameter, BodyCannotObserveLoss, UnstablePlaceholder, SkipReturnsDefault,
        BodyCalledDirectly, NoLockCanBeGenerated, BadPlaceholderFormat, ProviderChoice, HoldLimitsInverted,
        LeaderWithoutToken, LeaderReturnType, LeaderAndLocked,
        BadSemaphoreLimit, SemaphoreAndLock,
    }.ToDictionary(d => d.Id);

    /// <summary>Every descriptor, in id order.</summary>
    public static IEnumerable<DiagnosticDescriptor> All => s_byId.Values.OrderBy(d => d.Id, StringComparer.Ordinal);

    public static DiagnosticDescriptor ById(string id) => s_byId[id];

    /// <summary>Where each id is explained: a page in the repository's docs/diagnostics folder.</summary>
    public static string HelpLink(string id) => GeneratorInfo.DiagnosticsHelpBase + id + ".md";

    private static DiagnosticDescriptor Error(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true, helpLinkUri: HelpLink(id));

    private static DiagnosticDescriptor Warning(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Warning, isEnabledByDefault: true, helpLinkUri: HelpLink(id));
}
