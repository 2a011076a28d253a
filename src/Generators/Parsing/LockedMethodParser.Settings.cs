using System;
using System.Linq;
using ConsulLock.Aop.Common;
using ConsulLock.Aop.Generators.Diagnostics;
using Microsoft.CodeAnalysis;

namespace ConsulLock.Aop.Generators.Parsing;

// Settings: the attribute's durations and behaviours, checked at compile time (CLA007, CLA011, CLA016).
internal sealed partial class LockedMethodParser
{
    private LockSettingsSpec? ParseSettings(ReturnKind? returnKind)
    {
        var ok = true;
        var wait = Duration("WaitTimeout", TimeSpan.Zero, null, ref ok);
        var ttl = Duration("SessionTtl", TimeSpan.FromSeconds(10), TimeSpan.FromHours(24), ref ok);
        var delay = Duration("LockDelay", TimeSpan.Zero, TimeSpan.FromSeconds(60), ref ok);
        var minHold = Duration("MinHold", TimeSpan.Zero, TimeSpan.FromHours(24), ref ok);
        var maxHold = Duration("MaxHold", TimeSpan.FromSeconds(1), TimeSpan.FromHours(24), ref ok);
        if (minHold is not null && maxHold is not null && minHold.Ticks > maxHold.Ticks)
        {
            Report(DiagnosticDescriptors.HoldLimitsInverted, ArgumentLocation("MinHold"), minHold.Text, maxHold.Text);
            ok = false;
        }

        var skip = NamedInt(_attribute, "OnTimeout") == 1;
        var delete = NamedInt(_attribute, "Behavior") == 1;
        if (skip && returnKind is ReturnKind.TaskOfT or ReturnKind.ValueTaskOfT)
        {
            CheckSkipIsVisible((INamedTypeSymbol)_method.ReturnType);
        }

        int? limit = null;
        if (IsSemaphore)
        {
            // CLA020: Limit is required; 0 is also what an attribute without it reads as.
            var set = _attribute.NamedArguments.Any(a => a.Key == "Limit");
            limit = NamedInt(_attribute, "Limit");
            if (limit < 1)
            {
                Report(DiagnosticDescriptors.BadSemaphoreLimit, ArgumentLocation("Limit") ?? AttributeSyntax()?.GetLocation(), _method.Name, set ? $"Limit = {limit}" : "no Limit");
                ok = false;
            }
        }

        return ok ? new LockSettingsSpec(wait, skip, ttl, delay, delete, minHold, maxHold, limit) : null;
    }

    /// <summary>
    /// CLA011: with Skip the caller of a skipped call gets default(T). That says "skipped" only when the declared result
    /// already means "maybe no result": bool (the body returns true when it did its work), a nullable value type, or a
    /// reference type annotated nullable where annotations mean something. Anything else reads as a real result.
    /// </summary>
    private void CheckSkipIsVisible(INamedTypeSymbol returnType)
    {
        var result = returnType.TypeArguments[0];
        if (result.SpecialType == SpecialType.System_Boolean
            || result.OriginalDefinition.SpecialType == SpecialType.System_Nullable_T
            || (result.IsReferenceType && result.NullableAnnotation == NullableAnnotation.Annotated && AnnotationsEnabled))
        {
            return;
        }

        var task = returnType.Name;
        var resultText = result.ToDisplayString(SymbolText.ShortFormat);
        var fix = $"{task}<bool> (the body returns true when it ran)";
        if (result.IsValueType || result.IsReferenceType)
        {
            // An unconstrained T? is default(T) too, 0 for an int: only a type known to be a value or a reference type can say "skipped" as null.
            var nullable = $"{task}<{resultText.TrimEnd('?')}?> (null when skipped{(result.IsReferenceType && !AnnotationsEnabled ? ", under #nullable enable" : "")})";
            fix += ", " + nullable;
        }

        fix += $" or {task} (no result)";

        Report(
            DiagnosticDescriptors.SkipReturnsDefault, ArgumentLocation("OnTimeout"),
            _method.Name, returnType.ToDisplayString(SymbolText.ShortFormat), resultText, fix);
    }

    // Where nullable annotations are off, the Task the method returns is oblivious (None); where they are on, it is not
    // annotated. Cheaper than a semantic model, which an analyzer should not make.
    private bool AnnotationsEnabled => _method.ReturnNullableAnnotation != NullableAnnotation.None;

    private DurationSpec? Duration(string property, TimeSpan min, TimeSpan? max, ref bool ok)
    {
        var text = NamedString(_attribute, property);
        if (text is null)
        {
            return null;
        }

        var range = max is null ? "" : $", between {ConsulDuration.Format(min)} and {(max.Value.TotalHours >= 1 ? $"{max.Value.TotalHours}h" : ConsulDuration.Format(max.Value))}";
        if (!ConsulDuration.TryParse(text, out var value, allowTimeSpanText: false))
        {
            Report(DiagnosticDescriptors.BadDuration, ArgumentLocation(property), property, text, "is not a duration", range);
            ok = false;
            return null;
        }

        if (value < min || (max is not null && value > max.Value))
        {
            Report(DiagnosticDescriptors.BadDuration, ArgumentLocation(property), property, text, "is out of range", range);
            ok = false;
            return null;
        }

        return new DurationSpec(value.Ticks, text);
    }
}
