using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Operations;
using SingLoRA.Common;

namespace SingLoRA.Analyzers;

/// <summary>
/// Per compilation: which fields are targets the generator adapts (from the shared classifier), so that an analyzer
/// looking at one field reference can tell whether it is such a target, of which class, and how it is adapted.
/// </summary>
internal sealed class AdaptedTargets
{
    private readonly KnownSymbols _symbols;
    private readonly ConcurrentDictionary<INamedTypeSymbol, ImmutableDictionary<IFieldSymbol, TargetKind>> _byType = new(SymbolEqualityComparer.Default);

    public AdaptedTargets(KnownSymbols symbols) => _symbols = symbols;

    /// <summary>The target <paramref name="reference"/> reads or writes, or null when it is not an adapted target.</summary>
    public (IFieldSymbol Field, INamedTypeSymbol Owner, TargetKind Kind)? Find(IFieldReferenceOperation reference, CancellationToken cancellationToken)
    {
        var field = reference.Field.OriginalDefinition;
        if (field.IsStatic || !_symbols.IsAdaptableFieldType(field.Type))
            return null;
        var owner = field.ContainingType.OriginalDefinition;
        var targets = _byType.GetOrAdd(owner, type => Of(type, _symbols, cancellationToken));
        return targets.TryGetValue(field, out var kind) ? (field, owner, kind) : null;
    }

    /// <summary>The targets the generator adapts in <paramref name="type"/> (none when it is not annotated or is skipped).</summary>
    public static ImmutableDictionary<IFieldSymbol, TargetKind> Of(INamedTypeSymbol type, KnownSymbols symbols, CancellationToken cancellationToken)
    {
        if (symbols.FindAttribute(type) is not { } attribute)
            return ImmutableDictionary<IFieldSymbol, TargetKind>.Empty;
        return ModuleClassifier.Classify(type, attribute, symbols, cancellationToken).Adapted
            .ToImmutableDictionary<TargetVerdict, IFieldSymbol, TargetKind>(t => t.Field!, t => t.Kind!.Value, SymbolEqualityComparer.Default);
    }
}
