using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using System.Reflection;
using Basic.Reference.Assemblies;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace SingLoRA.Robustness.Tests;

/// <summary>Runs the generator and every analyzer over source files, as the compiler and the IDE would, and collects anything that escaped.</summary>
internal sealed class FuzzHarness
{
    private static readonly CSharpParseOptions ParseOptions = new CSharpParseOptions(LanguageVersion.Preview)
        .WithFeatures(new[] { new KeyValuePair<string, string>("InterceptorsNamespaces", "SingLoRA.Generated") });

    private static readonly ImmutableArray<MetadataReference> References = Net100.References.All
        .Cast<MetadataReference>()
        .Append(MetadataReference.CreateFromFile(typeof(TorchSharp.torch).Assembly.Location))
        .Append(MetadataReference.CreateFromFile(typeof(SingLoRA.SingLoRAAttribute).Assembly.Location))
        .ToImmutableArray();

    private readonly ImmutableArray<DiagnosticAnalyzer> _analyzers;

    public FuzzHarness()
    {
        _analyzers = AnalyzerAssembly.GetTypes()
            .Where(t => !t.IsAbstract && typeof(DiagnosticAnalyzer).IsAssignableFrom(t) && t.GetCustomAttribute<DiagnosticAnalyzerAttribute>() is not null)
            .Select(t => (DiagnosticAnalyzer)Activator.CreateInstance(t)!)
            .ToImmutableArray();
    }

    /// <summary>The assembly that holds the analyzers (found through one of its types).</summary>
    public static Assembly AnalyzerAssembly => typeof(SingLoRA.Analyzers.DiagnosticDescriptors).Assembly;

    public int AnalyzerCount => _analyzers.Length;

    /// <summary>Every exception that escaped the generator or an analyzer for these files (empty when all is well).</summary>
    public IReadOnlyList<string> Run(params string[] sources) => Run(sources, out _);

    public IReadOnlyList<string> Run(string[] sources, out ImmutableArray<Diagnostic> compilerDiagnostics)
    {
        var problems = new List<string>();
        var trees = sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"Model{i}.cs"));
        var compilation = CSharpCompilation.Create("Fuzz", trees, References,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

        GeneratorDriver driver = CSharpGeneratorDriver.Create(new[] { new SingLoRA.Generator.SingLoRAGenerator().AsSourceGenerator() }, parseOptions: ParseOptions);
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        foreach (var result in driver.GetRunResult().Results)
            if (result.Exception is not null) problems.Add($"generator threw {result.Exception}");
        foreach (var d in generatorDiagnostics.Where(d => d.Id is "CS8784" or "CS8785"))
            problems.Add($"generator failed: {d}");

        var exceptions = new List<string>();
        var options = new CompilationWithAnalyzersOptions(
            new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty),
            (exception, analyzer, diagnostic) => exceptions.Add($"{analyzer.GetType().Name} threw {exception}"),
            concurrentAnalysis: false, logAnalyzerExecutionTime: false);
        var analyzerDiagnostics = output.WithAnalyzers(_analyzers, options).GetAnalyzerDiagnosticsAsync().GetAwaiter().GetResult();
        problems.AddRange(exceptions);
        problems.AddRange(analyzerDiagnostics.Where(d => d.Id == "AD0001").Select(d => $"analyzer failed: {d}"));

        compilerDiagnostics = output.GetDiagnostics();
        return problems;
    }

    public static string SaveForReproduction(string source, int seed, int index)
    {
        var path = Path.Combine(Path.GetTempPath(), $"singlora-fuzz-{seed}-{index}.cs");
        File.WriteAllText(path, source);
        return path;
    }
}
