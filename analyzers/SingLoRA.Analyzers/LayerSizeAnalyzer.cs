using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using SingLoRA.Analyzers.Sizes;
using SingLoRA.Common;
using static SingLoRA.Analyzers.DiagnosticDescriptors;

namespace SingLoRA.Analyzers;

/// <summary>
/// The rank against the layers it adapts (SLG0002, SLG0003) and the shape notes (SLG0004, SLG0005), wherever the sizes
/// of a target's <c>Linear(in, out)</c> are compile-time facts. Sizes that are constants inside the class are reported
/// on the attribute. Sizes that come from constructor parameters or a config object are followed from every place the
/// class is built (<c>new SelfAttention(64)</c>, <c>new Llama(new LlamaConfig(Dim: 64, ...))</c>, through the objects
/// each constructor creates) and reported at the creation whose arguments make the sizes known.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class LayerSizeAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } =
        ImmutableArray.Create(RankExceedsLayer, RankNotLow, NonSquareTarget, LoneSquareTarget);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            if (KnownSymbols.TryCreate(start.Compilation) is not { Nn: not null } symbols)
                return;
            var evaluator = new SizeEvaluator(symbols);
            var modules = new System.Collections.Concurrent.ConcurrentDictionary<INamedTypeSymbol, AnnotatedModule?>(SymbolEqualityComparer.Default);
            AnnotatedModule? ModuleOf(INamedTypeSymbol type, CancellationToken ct) =>
                modules.GetOrAdd(type.OriginalDefinition, t => AnnotatedModule.Create(t, evaluator, ct));

            start.RegisterSymbolAction(symbolContext => ReportClassLevel(symbolContext, ModuleOf((INamedTypeSymbol)symbolContext.Symbol, symbolContext.CancellationToken)), SymbolKind.NamedType);
            start.RegisterOperationAction(
                operationContext => ReportCreationSite(operationContext, evaluator, ModuleOf),
                OperationKind.ObjectCreation);
        });
    }

    /// <summary>An annotated class: its rank, the targets the generator adapts (once the class itself is fine), and the target shapes known without any constructor argument.</summary>
    private sealed class AnnotatedModule
    {
        public required ModuleClassification Classification { get; init; }
        public required int Rank { get; init; }
        public required ImmutableArray<TargetVerdict> Targets { get; init; }
        public required ImmutableDictionary<string, LinearValue> ClassLevel { get; init; }

        public static AnnotatedModule? Create(INamedTypeSymbol type, SizeEvaluator evaluator, CancellationToken cancellationToken)
        {
            if (evaluator.Symbols.FindAttribute(type) is not { } attribute)
                return null;
            var classification = ModuleClassifier.Classify(type, attribute, evaluator.Symbols, cancellationToken);
            var rank = attribute.NamedArguments.FirstOrDefault(a => a.Key == "Rank").Value;
            if (rank.Kind == TypedConstantKind.Error || rank.Value is not int r || r < 1)
                return null;
            var targets = classification.AdaptableTargets.ToImmutableArray();
            // The shapes every constructor gives a target with no argument known: the class's own constants.
            var classLevel = ImmutableDictionary.CreateBuilder<string, LinearValue>();
            var query = evaluator.NewQuery(cancellationToken);
            foreach (var target in targets)
            {
                LinearValue? agreed = null;
                foreach (var constructor in type.InstanceConstructors)
                {
                    var shape = query.Member(Unbound(type, constructor), target.Field!) as LinearValue;
                    if (shape?.Sizes is null || agreed is not null && !agreed.SameSizes(shape))
                    {
                        agreed = null;
                        break;
                    }
                    agreed = shape;
                }
                if (agreed is not null)
                    classLevel[target.Entry.Name] = agreed;
            }
            return new AnnotatedModule { Classification = classification, Rank = r, Targets = targets, ClassLevel = classLevel.ToImmutable() };
        }

        private static ObjectValue Unbound(INamedTypeSymbol type, IMethodSymbol constructor) =>
            new(type, constructor, ImmutableDictionary<IParameterSymbol, SizeValue>.Empty.WithComparers(SymbolEqualityComparer.Default),
                ImmutableDictionary<ISymbol, SizeValue>.Empty.WithComparers(SymbolEqualityComparer.Default), null);
    }

    /// <summary>One target's known shape: its sizes and the creation-site arguments they depend on.</summary>
    private readonly record struct Shape(string Target, long In, long Out, ImmutableSortedSet<string> Origins);

    private static void ReportClassLevel(SymbolAnalysisContext context, AnnotatedModule? module)
    {
        if (module is null)
            return;
        var info = SingLoRAAttributeInfo.Create(module.Classification.Attribute, context.CancellationToken);
        if (info.Syntax is null || GeneratedCode.IsGenerated(info.Syntax.SyntaxTree))
            return;
        var shapes = module.Targets
            .Where(t => module.ClassLevel.ContainsKey(t.Entry.Name))
            .Select(t => (Verdict: t, Shape: ToShape(t.Entry.Name, module.ClassLevel[t.Entry.Name])))
            .ToList();
        if (shapes.Count == 0)
            return;
        var properties = ImmutableDictionary<string, string?>.Empty.Add(MaxRankProperty, CleanRank(shapes.Select(s => s.Shape)).ToString(CultureInfo.InvariantCulture));
        foreach (var (_, shape) in shapes)
            ReportRank(context.ReportDiagnostic, module, shape, info.ValueLocation("Rank"), properties, "");
        foreach (var (verdict, shape) in shapes)
            ReportShape(context.ReportDiagnostic, module, shape, info.EntryLocation(verdict.Entry), "");
    }

    private static void ReportCreationSite(OperationAnalysisContext context, SizeEvaluator evaluator, Func<INamedTypeSymbol, CancellationToken, AnnotatedModule?> moduleOf)
    {
        var creation = (IObjectCreationOperation)context.Operation;
        if (creation.Type is not INamedTypeSymbol created || creation.Arguments.IsEmpty && creation.Initializer is null
            || !evaluator.ReachesAnnotated(created, context.CancellationToken))
            return;
        IOperation top = creation;
        while (top.Parent is not null)
            top = top.Parent;
        var query = evaluator.NewQuery(context.CancellationToken);
        if (query.Eval(creation, new SizeEvaluator.Frame(null, ImmutableDictionary<IParameterSymbol, SizeValue>.Empty.WithComparers(SymbolEqualityComparer.Default), top)) is not ObjectValue built)
            return;
        // The arguments of this creation are what the report is about: label each with its parameter's name.
        var labelled = new ObjectValue(built.Type, built.Constructor,
            built.Arguments.ToImmutableDictionary<KeyValuePair<IParameterSymbol, SizeValue>, IParameterSymbol, SizeValue>(p => p.Key, p => p.Value.Labelled(p.Key.Name), SymbolEqualityComparer.Default),
            built.Members.ToImmutableDictionary<KeyValuePair<ISymbol, SizeValue>, ISymbol, SizeValue>(p => p.Key, p => p.Value.Labelled(p.Key.Name), SymbolEqualityComparer.Default), null);

        var reported = new HashSet<string>(StringComparer.Ordinal);
        var visited = new HashSet<ObjectValue>();
        Walk(labelled, new List<string>(), 0);

        void Walk(ObjectValue obj, List<string> path, int depth)
        {
            if (depth > 8 || !visited.Add(obj) || !evaluator.ReachesAnnotated(obj.Type, context.CancellationToken))
                return;
            path = new List<string>(path) { obj.Type.Name };
            if (moduleOf(obj.Type, context.CancellationToken) is { } module)
            {
                foreach (var target in module.Targets)
                {
                    if (module.ClassLevel.ContainsKey(target.Entry.Name) || query.Member(obj, target.Field!) is not LinearValue { Sizes: not null } shape)
                        continue;
                    var known = ToShape(target.Entry.Name, shape);
                    // Shapes that do not depend on this creation's arguments are reported where they become known.
                    if (known.Origins.IsEmpty && depth > 0)
                        continue;
                    if (!reported.Add($"{obj.Type.ToDisplayString()}|{known.Target}|{known.In}|{known.Out}|{string.Join(",", known.Origins)}"))
                        continue;
                    var where = " when " + obj.Type.Name + " is built here"
                        + (path.Count > 1 ? " (" + string.Join(" → ", path) + ")" : "")
                        + (known.Origins.IsEmpty ? "" : " with " + string.Join(", ", known.Origins));
                    ReportRank(context.ReportDiagnostic, module, known, creation.Syntax.GetLocation(), ImmutableDictionary<string, string?>.Empty, where);
                    ReportShape(context.ReportDiagnostic, module, known, creation.Syntax.GetLocation(), where);
                }
            }
            foreach (var (child, frame) in query.Build(obj).Creations)
            {
                if (child.Type is INamedTypeSymbol childType && evaluator.ReachesAnnotated(childType, context.CancellationToken)
                    && query.Eval(child, frame) is ObjectValue next)
                    Walk(next, path, depth + 1);
            }
        }
    }

    private static Shape ToShape(string target, LinearValue value)
    {
        var (i, o) = value.Sizes!.Value;
        return new Shape(target, i.Value, o.Value, i.Origins.Union(o.Origins));
    }

    private static void ReportRank(Action<Diagnostic> report, AnnotatedModule module, Shape shape, Location location, ImmutableDictionary<string, string?> properties, string where)
    {
        long r = module.Rank, min = RankBound.MaxRank(shape.In, shape.Out), n = Math.Max(shape.In, shape.Out);
        if (!RankBound.Fits(r, shape.In, shape.Out))
            report(Diagnostic.Create(RankExceedsLayer, location, properties, r, min, shape.Target, shape.In, shape.Out, where));
        else if (n * r >= shape.In * shape.Out)
            report(Diagnostic.Create(RankNotLow, location, properties, r, shape.Target, n * r, shape.In * shape.Out, where));
    }

    private static void ReportShape(Action<Diagnostic> report, AnnotatedModule module, Shape shape, Location location, string where)
    {
        if (shape.In != shape.Out)
            report(Diagnostic.Create(NonSquareTarget, location, shape.Target, shape.In, shape.Out, Math.Max(shape.In, shape.Out), where));
        else if (module.Classification.Targets.Length == 1 && module.Targets.Length == 1)
            report(Diagnostic.Create(LoneSquareTarget, location, shape.Target, shape.In, where));
    }

    /// <summary>
    /// The rank the clamp fix sets: the largest power of two at most half of the smallest min(d_in, d_out), so that it
    /// is valid (not SLG0002) and low rank (n·r &lt; d_in·d_out, not SLG0003) for every target with known sizes.
    /// </summary>
    private static long CleanRank(IEnumerable<Shape> shapes)
    {
        long min = shapes.Min(s => RankBound.MaxRank(s.In, s.Out));
        long rank = 1;
        while (rank * 2 <= min / 2)
            rank *= 2;
        return rank;
    }
}
