using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using SingLoRA.Testing;

namespace SingLoRA.Robustness.Tests;

/// <summary>
/// Runs the generator and every analyzer over source files, as the compiler and the IDE would, and collects what went
/// wrong: anything that escaped the generator or an analyzer, the generator's internal error (SLG0022), every
/// class or target the generator skipped without an SLG diagnostic that says why, and every forward pass of an adapted
/// Linear target that is neither intercepted nor reported.
/// </summary>
internal sealed class FuzzHarness
{
    /// <summary>The diagnostics that explain why a whole class gets no generated code.</summary>
    private static readonly string[] ClassReasons = { "SLG0015", "SLG0016", "SLG0017", "SLG0019", "SLG0026", "SLG0028", "SLG0029", "SLG0030" };

    /// <summary>The diagnostics that explain why one target gets no adapter.</summary>
    private static readonly string[] TargetReasons = { "SLG0010", "SLG0011", "SLG0012", "SLG0013", "SLG0018" };

    private readonly ImmutableArray<DiagnosticAnalyzer> _analyzers;

    /// <summary>A harness with every SingLoRA analyzer, or (to prove the skip property can fail) with none.</summary>
    public FuzzHarness(bool withAnalyzers = true) =>
        _analyzers = withAnalyzers ? CompileHarness.AnalyzersIn(typeof(SingLoRA.Analyzers.DiagnosticDescriptors).Assembly) : ImmutableArray<DiagnosticAnalyzer>.Empty;

    public int AnalyzerCount => _analyzers.Length;

    /// <summary>Classes with [SingLoRA] seen, and how many the generator skipped, over every run (for the report line).</summary>
    public int AnnotatedClasses { get; private set; }

    public int SkippedClasses { get; private set; }

    public int SkippedTargets { get; private set; }

    /// <summary>Forward passes (<c>forward</c>/<c>call</c>) of adapted Linear targets checked, and how many were intercepted.</summary>
    public int TargetCalls { get; private set; }

    public int InterceptedCalls { get; private set; }

    /// <summary>Everything that went wrong for these files (empty when all is well).</summary>
    public IReadOnlyList<string> Run(params string[] sources) => Run(sources, out _);

    public IReadOnlyList<string> Run(string[] sources, out ImmutableArray<Diagnostic> compilerDiagnostics)
    {
        var problems = new List<string>();
        var compilation = CompileHarness.Compile(sources.Select((s, i) => ($"Model{i}.cs", s)), "Fuzz");

        var run = CompileHarness.RunGenerator(compilation, CompileHarness.CreateDriver(track: false));
        foreach (var result in run.Result.Results)
            if (result.Exception is not null) problems.Add($"generator threw {result.Exception}");
        foreach (var d in run.Diagnostics)
        {
            if (d.Id is "CS8784" or "CS8785") problems.Add($"generator failed: {d}");
            else if (d.Id == "SLG0022") problems.Add($"generator internal error: {d}");
        }

        var (analyzerDiagnostics, exceptions) = _analyzers.IsEmpty
            ? (ImmutableArray<Diagnostic>.Empty, (IReadOnlyList<string>)Array.Empty<string>())
            : CompileHarness.RunAnalyzersAsync(run.Output, _analyzers).GetAwaiter().GetResult();
        problems.AddRange(exceptions);
        problems.AddRange(analyzerDiagnostics.Where(d => d.Id == "AD0001").Select(d => $"analyzer failed: {d}"));
        problems.AddRange(UnexplainedSkips(run, analyzerDiagnostics));
        problems.AddRange(UncoveredTargetCalls(run, analyzerDiagnostics));

        compilerDiagnostics = run.Output.GetDiagnostics();
        return problems;
    }

    /// <summary>
    /// The classifier property, observed from outside: every class with [SingLoRA] that got no generated members, and
    /// every target named in Targets that got no adapter field, must be explained by an SLG diagnostic placed on it.
    /// </summary>
    private IEnumerable<string> UnexplainedSkips(CompileHarness.GeneratorRun run, ImmutableArray<Diagnostic> diagnostics)
    {
        var generatedTrees = run.Result.GeneratedTrees.ToHashSet();
        var explaining = diagnostics.Where(d => d.Id.StartsWith("SLG", StringComparison.Ordinal) && d.Severity >= DiagnosticSeverity.Warning && d.Location.IsInSource).ToList();
        var seen = new HashSet<INamedTypeSymbol>(SymbolEqualityComparer.Default);
        foreach (var tree in run.Output.SyntaxTrees.Where(t => !generatedTrees.Contains(t)))
        {
            var model = run.Output.GetSemanticModel(tree);
            foreach (var declaration in tree.GetRoot().DescendantNodes().OfType<TypeDeclarationSyntax>())
            {
                if (model.GetDeclaredSymbol(declaration) is not INamedTypeSymbol type || !seen.Add(type))
                    continue;
                var attribute = type.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == "SingLoRA.SingLoRAAttribute");
                if (attribute?.ApplicationSyntaxReference is not { } application)
                    continue;
                AnnotatedClasses++;
                var spans = type.DeclaringSyntaxReferences.Where(r => !generatedTrees.Contains(r.SyntaxTree)).ToList();
                bool On(Diagnostic d) => spans.Any(r => r.SyntaxTree == d.Location.SourceTree && r.Span.Contains(d.Location.SourceSpan))
                    || application.SyntaxTree == d.Location.SourceTree && application.Span.Contains(d.Location.SourceSpan);

                bool generated = type.DeclaringSyntaxReferences.Any(r => generatedTrees.Contains(r.SyntaxTree));
                if (!generated)
                {
                    SkippedClasses++;
                    if (!explaining.Any(d => ClassReasons.Contains(d.Id) && On(d)))
                        yield return $"class {type.ToDisplayString()} got no generated code, and no {string.Join("/", ClassReasons)} on it says why";
                    continue;
                }
                var targets = attribute.NamedArguments.FirstOrDefault(a => a.Key == "Targets").Value;
                if (targets.Kind == TypedConstantKind.Error || targets.Value is not string text)
                    continue;
                foreach (var name in text.Split(',').Select(n => n.Trim()).Where(n => n.Length > 0).Distinct())
                {
                    bool adapted = IsAdapted(type, name, generatedTrees);
                    if (adapted)
                        continue;
                    SkippedTargets++;
                    if (!explaining.Any(d => TargetReasons.Contains(d.Id) && application.SyntaxTree == d.Location.SourceTree && application.Span.Contains(d.Location.SourceSpan)))
                        yield return $"target '{name}' of {type.ToDisplayString()} got no adapter, and no {string.Join("/", TargetReasons)} on [SingLoRA] says why";
                }
            }
        }
    }

    /// <summary>
    /// The interception property, observed from outside: every <c>forward</c>/<c>call</c> invocation whose receiver is a
    /// Linear field that got an adapter is either intercepted (its interceptable location is in the generated
    /// interceptors) or has an SLG diagnostic on its receiver and method name (SLG0014 says why it bypasses the adapter).
    /// </summary>
    /// <summary>True when the generator adapts <paramref name="target"/> of <paramref name="type"/>: the class's generated descriptor lists it (<c>TargetDescriptor&lt;...&gt;("name", ...)</c>).</summary>
    private static bool IsAdapted(INamedTypeSymbol type, string target, HashSet<SyntaxTree> generatedTrees) =>
        type.DeclaringSyntaxReferences.Select(r => r.SyntaxTree).Where(generatedTrees.Contains)
            .Any(tree => tree.ToString().Contains($">(\"{target}\", static module => ", StringComparison.Ordinal));

    private IEnumerable<string> UncoveredTargetCalls(CompileHarness.GeneratorRun run, ImmutableArray<Diagnostic> diagnostics)
    {
        var generatedTrees = run.Result.GeneratedTrees.ToHashSet();
        var generatedText = string.Join("\n", run.Result.GeneratedTrees.Select(t => t.ToString()));
        var slg = diagnostics.Where(d => d.Id.StartsWith("SLG", StringComparison.Ordinal) && d.Location.IsInSource).ToList();
        foreach (var tree in run.Output.SyntaxTrees.Where(t => !generatedTrees.Contains(t)))
        {
            var model = run.Output.GetSemanticModel(tree);
            foreach (var invocation in tree.GetRoot().DescendantNodes().OfType<InvocationExpressionSyntax>())
            {
                // Cheap syntax first (a name forward or call), so that only those calls are bound.
                var receiver = invocation.Expression switch
                {
                    MemberAccessExpressionSyntax { Name.Identifier.ValueText: "forward" or "call" } access => access.Expression,
                    MemberBindingExpressionSyntax { Name.Identifier.ValueText: "forward" or "call" } => invocation.FirstAncestorOrSelf<ConditionalAccessExpressionSyntax>()?.Expression,
                    _ => null,
                };
                while (receiver is ParenthesizedExpressionSyntax or PostfixUnaryExpressionSyntax or CastExpressionSyntax)
                {
                    receiver = receiver switch
                    {
                        ParenthesizedExpressionSyntax p => p.Expression,
                        CastExpressionSyntax c => c.Expression,
                        _ => ((PostfixUnaryExpressionSyntax)receiver).Operand,
                    };
                }
                if (receiver is null
                    || model.GetSymbolInfo(invocation).Symbol is not IMethodSymbol { Name: "forward" or "call" } method
                    || model.GetSymbolInfo(receiver).Symbol is not IFieldSymbol field
                    || field.Type.ToDisplayString() != "TorchSharp.Modules.Linear"
                    || !IsAdapted(field.OriginalDefinition.ContainingType, field.Name, generatedTrees))
                    continue;
                TargetCalls++;
#pragma warning disable RSEXPERIMENTAL002 // the location the generator records for an intercepted call
                var location = model.GetInterceptableLocation(invocation);
#pragma warning restore RSEXPERIMENTAL002
                if (location is not null && generatedText.Contains("\"" + location.Data + "\"", StringComparison.Ordinal))
                {
                    InterceptedCalls++;
                    continue;
                }
                var span = Microsoft.CodeAnalysis.Text.TextSpan.FromBounds(receiver.SpanStart, invocation.Expression.Span.End); // q?.forward: q is outside .forward
                if (slg.Any(d => d.Location.SourceTree == tree && (span.Contains(d.Location.SourceSpan) || d.Location.SourceSpan.Contains(span))))
                    continue;
                var line = invocation.GetLocation().GetLineSpan().StartLinePosition.Line + 1;
                yield return $"the call '{invocation}' of target '{field.Name}' of {field.ContainingType.ToDisplayString()} ({tree.FilePath}, line {line}) is neither intercepted nor reported by an SLG diagnostic";
            }
        }
    }

    public static string SaveForReproduction(string source, int seed, int index)
    {
        var path = Path.Combine(Path.GetTempPath(), $"singlora-fuzz-{seed}-{index}.cs");
        File.WriteAllText(path, source);
        return path;
    }
}
