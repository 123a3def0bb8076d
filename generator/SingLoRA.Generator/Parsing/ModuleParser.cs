using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using SingLoRA.Generator.Models;

namespace SingLoRA.Generator.Parsing;

/// <summary>
/// Turns one <c>[SingLoRA]</c>-annotated class into a <see cref="ModuleModel"/>, or null when the class gets no
/// output (not partial, not a TorchSharp module, a containing type not partial, a user <c>RegisterComponents</c>
/// override...). Never throws: the analyzers, not the generator, report what is wrong.
/// </summary>
public static class ModuleParser
{
    /// <summary>The pipeline's transform for <c>ForAttributeWithMetadataName</c>.</summary>
    public static ModuleModel? Parse(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        try
        {
            return ParseCore(context, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception)
        {
            // Whatever went wrong, this class gets no generated code; the compiler and the analyzers say why.
            return null;
        }
    }

    private static ModuleModel? ParseCore(GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        if (context.TargetSymbol is not INamedTypeSymbol { TypeKind: TypeKind.Class, IsStatic: false } type) return null;
        if (context.Attributes.Length == 0 || !IsFirstApplication(type, context.Attributes[0])) return null;
        if (!AllDeclarationsPartial(type, cancellationToken) || !KnownTypes.DerivesFromTorchModule(type)) return null;
        if (type.GetMembers("RegisterComponents").Any(m => m is IMethodSymbol { Parameters.Length: 0 } && !m.IsImplicitlyDeclared)) return null;

        var containing = new List<ContainingTypeModel>();
        for (var outer = type.ContainingType; outer is not null; outer = outer.ContainingType)
        {
            if (!AllDeclarationsPartial(outer, cancellationToken)) return null;
            containing.Insert(0, new ContainingTypeModel(Keyword(outer), Naming.Escape(outer.Name), TypeParameterList(outer)));
        }

        var compilation = context.SemanticModel.Compilation;
        var linear = compilation.GetTypeByMetadataName(KnownTypes.Linear);
        var adapter = compilation.GetTypeByMetadataName(KnownTypes.SingLoRALinear);
        if (linear is null || adapter is null) return null;

        var attribute = context.Attributes[0];
        var targets = new List<TargetModel>();
        var interceptedFields = new Dictionary<IFieldSymbol, TargetModel>(SymbolEqualityComparer.Default);
        var propertyNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in Naming.SplitTargets(NamedString(attribute, "Targets")))
        {
            var field = type.GetMembers(name).OfType<IFieldSymbol>().FirstOrDefault(f => !f.IsStatic && !f.IsConst && !f.IsImplicitlyDeclared);
            if (field is null) continue;   // not a field of the class: the analyzers report it
            TargetKind kind;
            if (SymbolEqualityComparer.Default.Equals(field.Type, linear))
                kind = TargetKind.Intercepted;
            else if (field.Type.TypeKind is TypeKind.Class or TypeKind.Interface
                     && IsImplicitReference(compilation, linear, field.Type)
                     && IsImplicitReference(compilation, adapter, field.Type))
                kind = TargetKind.SwappedField;
            else
                continue;                 // a field of another type: the analyzers report it
            var property = Naming.ToPascal(name) + "Adapter";
            if (!propertyNames.Add(property)) continue;
            var target = new TargetModel(name, Naming.Escape(name), property, kind, field.IsReadOnly);
            targets.Add(target);
            if (kind == TargetKind.Intercepted) interceptedFields.Add(field, target);
        }

        var display = string.Join(".", containing.Select(c => c.Name + c.TypeParameters).Concat(new[] { type.Name + TypeParameterList(type) }));
        var ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() : null;
        var hint = Naming.SafeFileName((ns is null ? "" : ns + ".") + string.Join(".", AllNames(type)));

        return new ModuleModel(
            hint,
            ns,
            containing.ToEquatableArray(),
            Naming.Escape(type.Name),
            TypeParameterList(type),
            display,
            ReadOptions(attribute),
            targets.ToEquatableArray(),
            InterceptorFinder.Find(type, interceptedFields, context.SemanticModel, cancellationToken));
    }

    /// <summary>With the attribute on two partial declarations, only the first application produces output.</summary>
    private static bool IsFirstApplication(INamedTypeSymbol type, AttributeData attribute)
    {
        var first = type.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == KnownTypes.SingLoRAAttribute);
        var a = first?.ApplicationSyntaxReference;
        var b = attribute.ApplicationSyntaxReference;
        return a is not null && b is not null && a.SyntaxTree == b.SyntaxTree && a.Span == b.Span;
    }

    private static bool AllDeclarationsPartial(INamedTypeSymbol type, CancellationToken cancellationToken)
    {
        if (type.DeclaringSyntaxReferences.Length == 0) return false;
        foreach (var reference in type.DeclaringSyntaxReferences)
            if (reference.GetSyntax(cancellationToken) is not TypeDeclarationSyntax declaration
                || !declaration.Modifiers.Any(SyntaxKind.PartialKeyword))
                return false;
        return true;
    }

    private static bool IsImplicitReference(Compilation compilation, ITypeSymbol from, ITypeSymbol to)
    {
        var conversion = ((CSharpCompilation)compilation).ClassifyConversion(from, to);
        return conversion.IsImplicit && conversion.IsReference || conversion.IsIdentity;
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
        type.TypeParameters.Length == 0 ? "" : "<" + string.Join(", ", type.TypeParameters.Select(p => Naming.Escape(p.Name))) + ">";

    private static IEnumerable<string> AllNames(INamedTypeSymbol type)
    {
        var names = new List<string>();
        for (var t = type; t is not null; t = t.ContainingType)
            names.Insert(0, t.Arity == 0 ? t.Name : t.Name + "_" + t.Arity);
        return names;
    }

    private static OptionsModel ReadOptions(AttributeData attribute)
    {
        int rank = 0;
        double? alpha = null, dropout = null;
        int? rampSteps = null, scaling = null, init = null;
        foreach (var pair in attribute.NamedArguments)
        {
            if (pair.Value.Kind == TypedConstantKind.Error || pair.Value.Value is null) continue;
            var value = pair.Value.Value;
            switch (pair.Key)
            {
                case "Rank" when value is int i: rank = i; break;
                case "Alpha" when value is double d: alpha = d; break;
                case "RampSteps" when value is int i: rampSteps = i; break;
                case "Dropout" when value is double d: dropout = d; break;
                case "Scaling" when value is int i: scaling = i; break;
                case "Init" when value is int i: init = i; break;
            }
        }
        return new OptionsModel(rank, alpha, rampSteps, dropout, scaling, init);
    }

    private static string? NamedString(AttributeData attribute, string name)
    {
        foreach (var pair in attribute.NamedArguments)
            if (pair.Key == name && pair.Value.Kind != TypedConstantKind.Error)
                return pair.Value.Value as string;
        return null;
    }
}
