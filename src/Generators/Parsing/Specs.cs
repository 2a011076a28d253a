using System;
using ConsulLock.Aop.Generators.Common;

namespace ConsulLock.Aop.Generators.Parsing;

// The specs are everything the emitter needs, as strings, enums and equatable arrays: no symbols, syntax or
// locations, so the incremental pipeline can compare them by value and skip emitting when nothing changed.

/// <summary>What the generator writes for one <c>[ConsulLocked]</c> method: a lock around its body, or a placeholder.</summary>
/// <param name="ForcedErrors">
/// The messages of this method's errors that the build's configuration silences (NoWarn, a global config): repeated
/// as a compiler error, which no configuration silences, so that a method with an error never builds.
/// </param>
internal abstract record MethodSpec(TypeHierarchy Type, EquatableArray<string> ForcedErrors);

/// <summary>
/// A method with errors, which the generator reports. It still gets an implementation that only throws, so that the
/// compiler does not add CS8795 ("partial method must have an implementation part") to those errors.
/// </summary>
/// <param name="Signature">The implementing declaration's first line, from modifiers to the parameter list.</param>
/// <param name="ProviderRead">
/// The member or primary-constructor parameter the lock would use: the placeholder reads it, so that the compiler
/// does not add "parameter is unread" (CS9113) or "field is never used" to our error.
/// </param>
internal sealed record PlaceholderMethodSpec(
    TypeHierarchy Type, EquatableArray<string> ForcedErrors, string Name, string Signature, EquatableArray<string> Constraints, ProviderSpec? ProviderRead)
    : MethodSpec(Type, ForcedErrors);

/// <summary>
/// An error where no implementation can be declared (the method is not partial, a type is not partial, the attribute
/// is on a lambda): the forced errors, and a member that reads the provider when the type can be reopened, so that
/// CS9113 ("parameter is unread") or "field is never used" does not join our error.
/// </summary>
internal sealed record ErrorOnlySpec(TypeHierarchy Type, EquatableArray<string> ForcedErrors, string? ProviderRead = null, string MethodName = "", bool ProviderIsStatic = false)
    : MethodSpec(Type, ForcedErrors);

/// <summary>One <c>[ConsulLocked]</c> method, ready to emit.</summary>
/// <remarks>
/// <para>
/// <see cref="ThisCopyVariable"/> is set for instance methods of structs, whose lambdas cannot capture <c>this</c>;
/// an instance body runs on a copy, as an async struct method does.
/// </para>
/// <para>
/// The user's names must not change what the generated code means (issue 19): the locals' names avoid every name the
/// method declares (<see cref="KeyVariable"/>, <see cref="ContextVariable"/>, <see cref="ThisCopyVariable"/>), the
/// members it adds avoid every member name of the type (<see cref="SettingsField"/>), and what it refers to is
/// qualified (<c>global::</c> types, <c>this.</c> or the type's name for members; see <see cref="ProviderSpec"/>).
/// </para>
/// <para>
/// <see cref="IsLeader"/>: a <c>[ConsulLeader]</c> method, which campaigns (<c>LeaderMethodRunner</c>) instead of taking
/// the lock once; everything else (key, body, provider, settings) is read and written as for <c>[ConsulLocked]</c>.
/// </para>
/// </remarks>
internal sealed record LockedMethodSpec(
    TypeHierarchy Type,
    string Modifiers,
    string ReturnType,
    ReturnKind ReturnKind,
    string? ResultType,
    string Name,
    string TypeParameters,
    EquatableArray<string> Constraints,
    EquatableArray<ParameterSpec> Parameters,
    string KeyTemplate,
    EquatableArray<KeyPart> Key,
    LockSettingsSpec Settings,
    string SettingsField,
    BodyCallSpec Body,
    ProviderSpec Provider,
    string? CancellationTokenParameter,
    string KeyVariable,
    string ContextVariable,
    string? ThisCopyVariable,
    bool IsLeader = false) : MethodSpec(Type, EquatableArray<string>.Empty);

/// <summary>The namespace and the chain of containing types, outermost first, so the emitter can reopen them.</summary>
/// <param name="QualifiedName">The type as its own code names it, <c>global::</c> qualified: <c>global::Shop.Outer&lt;T&gt;.Orders</c>.</param>
internal sealed record TypeHierarchy(string? Namespace, EquatableArray<ContainingType> Types, string QualifiedName, string HintName);

/// <summary>A containing type as it is reopened: <c>partial record struct Outer&lt;T&gt;</c>.</summary>
internal sealed record ContainingType(string Keyword, string NameWithTypeParameters);

internal sealed record ParameterSpec(string Type, string Name, string Prefix);

/// <summary>
/// A piece of the key: literal text, or a C# expression whose value fills a placeholder (with the placeholder's
/// format, if it has one).
/// </summary>
internal sealed record KeyPart(bool IsLiteral, string Text, string Placeholder, string? Format = null);

internal enum ReturnKind
{
    Task,
    TaskOfT,
    ValueTask,
    ValueTaskOfT,
}

/// <summary>The attribute's settings, durations already checked and turned into ticks.</summary>
internal sealed record LockSettingsSpec(
    DurationSpec? WaitTimeout,
    bool SkipOnTimeout,
    DurationSpec? SessionTtl,
    DurationSpec? LockDelay,
    bool DeleteOnSessionEnd,
    DurationSpec? MinHold,
    DurationSpec? MaxHold,
    int? SemaphoreLimit = null)
{
    public bool HasRequest => SessionTtl is not null || LockDelay is not null || DeleteOnSessionEnd || MinHold is not null || MaxHold is not null;
}

internal sealed record DurationSpec(long Ticks, string Text);

/// <summary>What the body is given last: nothing extra, the lock's context, or the lock-lost token.</summary>
internal enum BodyExtra
{
    None,
    Context,
    CancellationToken,

    /// <summary>The context goes just before the declaration's last parameter, a CancellationToken.</summary>
    ContextBeforeToken,
}

/// <param name="IsStatic">A static body is called by name even from a struct's instance method, never through the copy of <c>this</c>.</param>
internal sealed record BodyCallSpec(string Name, string TypeArguments, BodyExtra Extra, bool IsStatic);

/// <summary>Where the lock provider comes from: a member of the containing type, or <c>ConsulLocking.Default</c>.</summary>
/// <param name="Expression">
/// What the generated method reads: a parameter by name, <c>this.member</c>, <c>global::Type.member</c> for a static
/// member, a primary-constructor parameter by name, or <c>this.</c> and the member of a <paramref name="Relay"/>.
/// </param>
/// <param name="Relay">Set when a name of the user's hides the primary-constructor parameter inside the method.</param>
internal sealed record ProviderSpec(string Expression, string Description, ProviderRelay? Relay = null);

/// <summary>
/// A member the generated code adds to read a primary-constructor parameter that a name of the user's hides inside the
/// method; <c>this.</c><see cref="Member"/> is then the provider.
/// </summary>
/// <param name="Parameter">The primary-constructor parameter, as an identifier.</param>
/// <param name="InInitializer">
/// A field set in its initializer, for a parameter that a member of the type hides: in member bodies that name means
/// the member, in initializers the parameter. Otherwise (a parameter of the method hides it) a property that reads it,
/// since an initializer beside a captured parameter would be warning CS9124.
/// </param>
internal sealed record ProviderRelay(string Member, string Parameter, bool InInitializer);
