using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace SingLoRA.Common;

/// <summary>How the adapter reaches the callers of a target field.</summary>
internal enum TargetKind
{
    /// <summary>The field is a <c>Linear</c> (sealed, so it cannot hold the adapter): its calls are intercepted.</summary>
    Intercepted,

    /// <summary>The field's type (for example <c>Module&lt;Tensor, Tensor&gt;</c>) also holds the adapter: the field is swapped.</summary>
    SwappedField,
}

/// <summary>Why a whole class gets no generated code: the diagnostic that says so and its detail.</summary>
/// <param name="DiagnosticId">The SLG diagnostic that explains it.</param>
/// <param name="Detail">The variable part of the message (a containing type's name, "is static", ...), or "".</param>
internal sealed record ClassProblem(string DiagnosticId, string Detail);

/// <summary>What the generator does with one entry of <c>Targets</c>.</summary>
/// <param name="Entry">The entry as written.</param>
/// <param name="Field">The field it names, when it names one of the class's own fields.</param>
/// <param name="Kind">How the adapter reaches the field's callers, when the target is adapted.</param>
/// <param name="SkipId">Null when the target is adapted; otherwise the SLG diagnostic that explains the skip.</param>
/// <param name="Detail">The variable part of the skip's message ("is a static field", "('K' is a property)", ...), or "".</param>
internal sealed record TargetVerdict(TargetEntry Entry, IFieldSymbol? Field, TargetKind? Kind, string? SkipId, string Detail)
{
    /// <summary>True when the generator adapts this target (the class itself may still be skipped).</summary>
    public bool IsAdapted => SkipId is null;

    /// <summary>The typed adapter property of the target.</summary>
    public string AdapterProperty => GeneratedNames.AdapterProperty(Entry.Name);
}

/// <summary>The attribute's choice of layers, when it is valid (a problem with it is a <see cref="ClassProblem"/>).</summary>
/// <param name="IndexMember">The <c>int</c> field or property named by <c>LayerIndex</c>, or null when none is named (or it is invalid).</param>
/// <param name="Ranges">The <c>Layers</c> ranges, or null when every layer is adapted (no <c>Layers</c>, or it is invalid).</param>
internal sealed record LayerChoice(ISymbol? IndexMember, ImmutableArray<LayerRange>? Ranges);

/// <summary>The classifier's answer for one annotated class.</summary>
internal sealed class ModuleClassification
{
    public ModuleClassification(INamedTypeSymbol type, AttributeData attribute, string? targetsText, ImmutableArray<ClassProblem> problems, ImmutableArray<TargetVerdict> targets, LayerChoice layers)
    {
        Type = type;
        Attribute = attribute;
        TargetsText = targetsText;
        Problems = problems;
        Targets = targets;
        Layers = layers;
    }

    /// <summary>Which layers of a stack get adapters: the attribute's <c>LayerIndex</c> member and <c>Layers</c> ranges.</summary>
    public LayerChoice Layers { get; }

    /// <summary>The annotated class.</summary>
    public INamedTypeSymbol Type { get; }

    /// <summary>Its <c>[SingLoRA]</c> attribute.</summary>
    public AttributeData Attribute { get; }

    /// <summary>The <c>Targets</c> text (null when absent, not a string, or erroneous).</summary>
    public string? TargetsText { get; }

    /// <summary>Why the class gets no generated code at all; empty when it gets it.</summary>
    public ImmutableArray<ClassProblem> Problems { get; }

    /// <summary>True when the generator emits the class's SingLoRA members.</summary>
    public bool IsGenerated => Problems.IsEmpty;

    /// <summary>One verdict per entry of <c>Targets</c>, in order (empty entries and repeats included).</summary>
    public ImmutableArray<TargetVerdict> Targets { get; }

    /// <summary>The targets the generator adapts, in attribute order (none when the class itself is skipped).</summary>
    public IEnumerable<TargetVerdict> Adapted => IsGenerated ? AdaptableTargets : Enumerable.Empty<TargetVerdict>();

    /// <summary>
    /// The targets the generator adapts once the class's own problems are fixed (it adapts them now when
    /// <see cref="IsGenerated"/>): what the checks of rank and registration look at, so that a class that is not yet
    /// partial gets all its diagnostics at once.
    /// </summary>
    public IEnumerable<TargetVerdict> AdaptableTargets => Targets.Where(t => t.IsAdapted);
}

/// <summary>
/// The one rule, shared by the generator and the analyzers, of what <c>[SingLoRA]</c> does to a class: whether the
/// class gets generated code, which targets are adapted and how, and for everything skipped the SLG diagnostic that
/// explains it. The generator turns the answer into its value-equal model; the analyzers report the skips.
/// </summary>
internal static class ModuleClassifier
{
    /// <summary>Classifies <paramref name="type"/> under its attribute <paramref name="attribute"/>.</summary>
    public static ModuleClassification Classify(INamedTypeSymbol type, AttributeData attribute, KnownSymbols symbols, CancellationToken cancellationToken)
    {
        var problems = ImmutableArray.CreateBuilder<ClassProblem>();

        // --- The class.
        string? notAModule =
            type.TypeKind != TypeKind.Class ? "is not a class"
            : type.IsStatic ? "is static"
            : type.IsRecord ? "is a record"
            : type.IsFileLocal ? "is file-local (the generated part is another file)"
            : !symbols.IsModule(type) ? "does not derive from TorchSharp.torch.nn.Module"
            : null;
        if (!IsPartial(type, cancellationToken))
            problems.Add(new ClassProblem(DiagnosticIds.NotPartial, ""));
        for (var outer = type.ContainingType; outer is not null; outer = outer.ContainingType)
        {
            if (!IsPartial(outer, cancellationToken))
                problems.Add(new ClassProblem(DiagnosticIds.ContainingTypeNotPartial, outer.Name));
        }
        if (notAModule is not null)
            problems.Add(new ClassProblem(DiagnosticIds.NotAModule, notAModule));
        if (type.GetMembers(GeneratedNames.RegisterComponents).Any(m => m is IMethodSymbol { Parameters.Length: 0 } && GeneratedCode.IsUserDeclared(m)))
            problems.Add(new ClassProblem(DiagnosticIds.RegisterComponentsDeclared, ""));
        for (var b = type.BaseType; b is not null; b = b.BaseType)
        {
            if (symbols.FindAttribute(b.OriginalDefinition) is not null)
            {
                problems.Add(new ClassProblem(DiagnosticIds.AnnotatedBaseClass, b.Name));
                break;
            }
        }

        // --- The layers of a stack that get adapters.
        var layers = ClassifyLayers(type, attribute, problems);

        // --- The targets.
        var text = TargetsText(attribute);
        var verdicts = ImmutableArray.CreateBuilder<TargetVerdict>();
        var seen = new HashSet<string>(System.StringComparer.Ordinal);
        var properties = new Dictionary<string, string>(System.StringComparer.Ordinal);
        foreach (var entry in TargetList.Split(text))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var verdict = ClassifyTarget(type, entry, seen, symbols);
            if (verdict.IsAdapted)
            {
                var property = verdict.AdapterProperty;
                if (properties.TryGetValue(property, out var earlier))
                    verdict = verdict with { Kind = null, SkipId = DiagnosticIds.MemberCollision, Detail = $"the adapter property of target '{earlier}'" };
                else
                    properties[property] = entry.Name;
            }
            verdicts.Add(verdict);
        }
        return new ModuleClassification(type, attribute, text, problems.ToImmutable(), verdicts.ToImmutable(), layers);
    }

    /// <summary>
    /// Reads <c>LayerIndex</c> and <c>Layers</c>. A problem with either is a class problem (the generated code would read
    /// the member and test the ranges, so the class gets none until it is fixed): SLG0028 for the member, SLG0029 for the
    /// ranges, SLG0030 for ranges without a member.
    /// </summary>
    private static LayerChoice ClassifyLayers(INamedTypeSymbol type, AttributeData attribute, ImmutableArray<ClassProblem>.Builder problems)
    {
        string? memberName = StringArgument(attribute, "LayerIndex");
        string? layersText = StringArgument(attribute, "Layers");
        ISymbol? member = null;
        if (memberName is not null)
        {
            var problem = LayerIndexProblem(type, memberName, out member);
            if (problem is not null)
            {
                problems.Add(new ClassProblem(DiagnosticIds.InvalidLayerIndex, problem));
                member = null;
            }
        }
        ImmutableArray<LayerRange>? ranges = null;
        if (layersText is not null)
        {
            var parsed = LayerList.Parse(layersText);
            if (parsed.Error is not null)
                problems.Add(new ClassProblem(DiagnosticIds.InvalidLayers, parsed.Error));
            else if (memberName is null)
                problems.Add(new ClassProblem(DiagnosticIds.LayersWithoutLayerIndex, ""));
            else
                ranges = parsed.Ranges;
        }
        return new LayerChoice(member, ranges);
    }

    /// <summary>Why <paramref name="name"/> cannot be the layer-index member of <paramref name="type"/>, or null when it can (then <paramref name="member"/> is it).</summary>
    private static string? LayerIndexProblem(INamedTypeSymbol type, string name, out ISymbol? member)
    {
        member = null;
        if (name.Trim().Length == 0)
            return "is empty";
        for (var t = type; t is not null; t = t.BaseType)
        {
            var found = t.GetMembers(name).FirstOrDefault(m => !m.IsImplicitlyDeclared);
            if (found is null) continue;
            bool inherited = !SymbolEqualityComparer.Default.Equals(t, type);
            if (found is not (IFieldSymbol or IPropertySymbol { IsIndexer: false }))
                return $"names a {Describe(found)}";
            if (found.IsStatic)
                return "names a static member (the index differs per instance)";
            if (inherited && found.DeclaredAccessibility == Accessibility.Private)
                return $"names a private member of the base class '{t.Name}'";
            var memberType = found is IFieldSymbol f ? f.Type : ((IPropertySymbol)found).Type;
            if (memberType.SpecialType != SpecialType.System_Int32)
                return $"names a member of type {memberType.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat)}, not int";
            if (found is IPropertySymbol { GetMethod: null })
                return "names a property without a getter";
            if (found is IPropertySymbol { GetMethod: { } getter } && inherited && getter.DeclaredAccessibility == Accessibility.Private)
                return $"names a property of the base class '{t.Name}' whose getter is private";
            member = found;
            return null;
        }
        return "names no field or property of the class";
    }

    private static string? StringArgument(AttributeData attribute, string name)
    {
        foreach (var pair in attribute.NamedArguments)
        {
            if (pair.Key == name && pair.Value.Kind != TypedConstantKind.Error)
                return pair.Value.Value as string;
        }
        return null;
    }

    private static TargetVerdict ClassifyTarget(INamedTypeSymbol type, TargetEntry entry, HashSet<string> seen, KnownSymbols symbols)
    {
        TargetVerdict Skip(string id, string detail, IFieldSymbol? field = null) => new(entry, field, null, id, detail);

        if (entry.Name.Length == 0)
            return Skip(DiagnosticIds.EmptyTargets, "has an empty entry");
        if (!seen.Add(entry.Name))
            return Skip(DiagnosticIds.DuplicateTarget, "");

        var members = type.GetMembers(entry.Name);
        var field = members.OfType<IFieldSymbol>().FirstOrDefault(f => !f.IsImplicitlyDeclared);
        if (field is null)
        {
            if (members.FirstOrDefault(m => !m.IsImplicitlyDeclared) is { } other)
                return Skip(DiagnosticIds.UnknownTarget, $" ('{entry.Name}' is a {Describe(other)})");
            for (var b = type.BaseType; b is not null; b = b.BaseType)
            {
                if (b.GetMembers(entry.Name).OfType<IFieldSymbol>().FirstOrDefault() is { } inherited)
                    return Skip(DiagnosticIds.UnadaptableTarget, $"is a field inherited from '{b.Name}' (only the class's own fields can be targets)", inherited);
            }
            return Skip(DiagnosticIds.UnknownTarget, "");
        }
        if (field.IsConst)
            return Skip(DiagnosticIds.UnadaptableTarget, "is a constant", field);
        if (field.IsStatic)
            return Skip(DiagnosticIds.UnadaptableTarget, "is a static field", field);
        if (symbols.IsLinear(field.Type))
            return new TargetVerdict(entry, field, TargetKind.Intercepted, null, "");
        if (symbols.CanHoldAdapter(field.Type))
            return new TargetVerdict(entry, field, TargetKind.SwappedField, null, "");
        return Skip(DiagnosticIds.UnadaptableTarget, $"is a field of type {field.Type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat)}", field);
    }

    /// <summary>The attribute's <c>Targets</c> string, or null when absent or erroneous.</summary>
    public static string? TargetsText(AttributeData attribute)
    {
        foreach (var pair in attribute.NamedArguments)
        {
            if (pair.Key == "Targets" && pair.Value.Kind != TypedConstantKind.Error)
                return pair.Value.Value as string;
        }
        return null;
    }

    /// <summary>True when every source declaration of <paramref name="type"/> carries <c>partial</c>.</summary>
    public static bool IsPartial(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        if (type.DeclaringSyntaxReferences.Length == 0)
            return false;
        foreach (var reference in type.DeclaringSyntaxReferences)
        {
            if (reference.GetSyntax(cancellationToken) is not TypeDeclarationSyntax declaration
                || !declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
                return false;
        }
        return true;
    }

    private static string Describe(ISymbol member) => member switch
    {
        IPropertySymbol => "property",
        IMethodSymbol => "method",
        IEventSymbol => "event",
        INamedTypeSymbol => "nested type",
        _ => member.Kind.ToString().ToLowerInvariant(),
    };
}
