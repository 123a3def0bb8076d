using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using SingLoRA.Common;
using SingLoRA.Generator.Models;

namespace SingLoRA.Generator.Parsing;

/// <summary>
/// Turns one <c>[SingLoRA]</c>-annotated class into a <see cref="ModuleModel"/>. What is adapted and what is skipped
/// is decided by the shared <see cref="ModuleClassifier"/> (the analyzers report each skip from the same answer); this
/// class only copies the answer into plain values. An exception here is not swallowed: it becomes an internal-error
/// diagnostic (SLG0022) on the class.
/// </summary>
internal static class ModuleParser
{
    /// <summary>
    /// The pipeline's transform for <c>ForAttributeWithMetadataName</c>. It may throw: the generator turns an exception
    /// into <see cref="Failed"/>'s result.
    /// </summary>
    public static ParseResult Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken) =>
        new(ParseCore(context, cancellationToken), EquatableArray<DiagnosticInfo>.Empty);

    /// <summary>The result for a class whose processing threw <paramref name="exception"/>: no model, one SLG0022.</summary>
    public static ParseResult Failed(GeneratorAttributeSyntaxContext context, string step, Exception exception)
    {
        var location = context.TargetNode is TypeDeclarationSyntax declaration ? declaration.Identifier.GetLocation() : context.TargetNode.GetLocation();
        var name = context.TargetSymbol?.ToDisplayString(SymbolDisplayFormat.CSharpErrorMessageFormat) ?? "?";
        return new ParseResult(null, new[] { Error(LocationInfo.From(location), name, step, exception) }.ToEquatableArray());
    }

    /// <summary>An SLG0022 for <paramref name="exception"/>, with its type and message.</summary>
    public static DiagnosticInfo Error(LocationInfo? location, string className, string step, Exception exception) =>
        new(location, new[] { className, step, exception.GetType().FullName ?? exception.GetType().Name, exception.Message }.ToEquatableArray());

    private static ModuleModel? ParseCore(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.TargetSymbol is not INamedTypeSymbol type || context.Attributes.Length == 0) return null;
        if (!IsFirstApplication(type, context.Attributes[0])) return null;
        if (KnownSymbols.TryCreate(context.SemanticModel.Compilation) is not { } symbols) return null;

        var classification = ModuleClassifier.Classify(type, context.Attributes[0], symbols, cancellationToken);
        if (!classification.IsGenerated) return null;   // the analyzers report each of classification.Problems

        var containing = new List<ContainingTypeModel>();
        for (var outer = type.ContainingType; outer is not null; outer = outer.ContainingType)
            containing.Insert(0, new ContainingTypeModel(Keyword(outer), GeneratedNames.Escape(outer.Name), TypeParameterList(outer)));

        var targets = new List<TargetModel>();
        var interceptedFields = new Dictionary<IFieldSymbol, TargetModel>(SymbolEqualityComparer.Default);
        foreach (var verdict in classification.Adapted)
        {
            var field = verdict.Field!;
            var kind = verdict.Kind!.Value;
            var target = new TargetModel(field.Name, GeneratedNames.Escape(field.Name), verdict.AdapterProperty, kind, field.IsReadOnly);
            targets.Add(target);
            if (kind == TargetKind.Intercepted) interceptedFields[field] = target;
        }

        var display = string.Join(".", containing.Select(c => c.Name + c.TypeParameters).Concat(new[] { type.Name + TypeParameterList(type) }));
        var ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : null;
        var hint = Naming.SafeFileName((ns is null ? "" : ns + ".") + string.Join(".", AllNames(type)));

        return new ModuleModel(
            hint,
            ns,
            containing.ToEquatableArray(),
            GeneratedNames.Escape(type.Name),
            TypeParameterList(type),
            display,
            ReadOptions(context.Attributes[0]),
            targets.ToEquatableArray(),
            InterceptorFinder.Find(type, interceptedFields, context.SemanticModel, cancellationToken),
            ReadLayers(classification));
    }

    /// <summary>With the attribute on two partial declarations, only the first application produces output.</summary>
    private static bool IsFirstApplication(INamedTypeSymbol type, AttributeData attribute)
    {
        var first = type.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == MetadataNames.SingLoRAAttribute);
        var a = first?.ApplicationSyntaxReference;
        var b = attribute.ApplicationSyntaxReference;
        return a is not null && b is not null && a.SyntaxTree == b.SyntaxTree && a.Span == b.Span;
    }

    private static string Keyword(INamedTypeSymbol type) => type switch
    {
        { IsRecord: true, TypeKind: TypeKind.Struct } => "record struct",
        { IsRecord: true } => "record",
        { TypeKind: TypeKind.Struct } => "struct",
        { TypeKind: TypeKind.Interface } => "interface",
        _ => "class",
    };

    private static string TypeParameterList(INamedTypeSymbol type) =>
        type.TypeParameters.Length == 0 ? "" : "<" + string.Join(", ", type.TypeParameters.Select(p => GeneratedNames.Escape(p.Name))) + ">";

    private static IEnumerable<string> AllNames(INamedTypeSymbol type)
    {
        var names = new List<string>();
        for (var t = type; t is not null; t = t.ContainingType)
            names.Insert(0, t.Arity == 0 ? t.Name : t.Name + "_" + t.Arity);
        return names;
    }

    private static LayersModel? ReadLayers(ModuleClassification classification)
    {
        if (classification.Layers.IndexMember is not { } member) return null;
        var ranges = classification.Layers.Ranges ?? System.Collections.Immutable.ImmutableArray<LayerRange>.Empty;
        return new LayersModel(GeneratedNames.Escape(member.Name), ranges.ToEquatableArray());
    }

    private static OptionsModel ReadOptions(AttributeData attribute)
    {
        int rank = 0;
        double? alpha = null, dropout = null;
        long? rampLength = null;
        int? scaling = null, init = null, precision = null;
        foreach (var pair in attribute.NamedArguments)
        {
            if (pair.Value.Kind == TypedConstantKind.Error || pair.Value.Value is null) continue;
            var value = pair.Value.Value;
            switch (pair.Key)
            {
                case "Rank" when value is int i: rank = i; break;
                case "Alpha" when value is double d: alpha = d; break;
                case "RampLength" when value is long l: rampLength = l; break;
                case "Dropout" when value is double d: dropout = d; break;
                case "Scaling" when value is int i: scaling = i; break;
                case "Init" when value is int i: init = i; break;
                case "Precision" when value is int i: precision = i; break;
            }
        }
        return new OptionsModel(rank, alpha, rampLength, dropout, scaling, init, precision);
    }
}
