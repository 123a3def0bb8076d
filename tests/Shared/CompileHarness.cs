using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Reflection;
using System.Threading.Tasks;
using Basic.Reference.Assemblies;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace SingLoRA.Testing;

/// <summary>
/// The one compile harness of the generator, analyzer, robustness and benchmark projects (linked into each from
/// tests/Shared): user sources compiled against .NET 10 reference assemblies, TorchSharp and the SingLoRA runtime
/// (metadata only), the interceptors feature on for the generated namespace, the generator run through
/// <see cref="CSharpGeneratorDriver"/> and analyzers through <see cref="CompilationWithAnalyzers"/>, as a build would.
/// </summary>
internal static class CompileHarness
{
    /// <summary>The namespace the generated interceptors live in (the build's InterceptorsNamespaces).</summary>
    public const string InterceptorsNamespace = "SingLoRA.Generated";

    /// <summary>Parse options with the interceptors feature on for the generated namespace.</summary>
    public static readonly CSharpParseOptions ParseOptions = CSharpParseOptions.Default
        .WithLanguageVersion(LanguageVersion.Preview)
        .WithFeatures(new[] { new KeyValuePair<string, string>("InterceptorsNamespaces", InterceptorsNamespace) });

    /// <summary>.NET 10, TorchSharp.dll and SingLoRA.dll.</summary>
    public static readonly ImmutableArray<MetadataReference> References = Net100.References.All
        .Cast<MetadataReference>()
        .Append(MetadataReference.CreateFromFile(typeof(TorchSharp.torch).Assembly.Location))
        .Append(MetadataReference.CreateFromFile(typeof(SingLoRA.SingLoRAAttribute).Assembly.Location))
        .ToImmutableArray();

    /// <summary>What the SDK suppresses by default: assembly-version unification notes between reference sets.</summary>
    private static readonly Dictionary<string, ReportDiagnostic> SdkDefaults = new()
    {
        ["CS1701"] = ReportDiagnostic.Suppress,
        ["CS1702"] = ReportDiagnostic.Suppress,
    };

    /// <summary>
    /// A library compilation of <paramref name="sources"/> (path, text) with nullable on; with
    /// <paramref name="warningsAsErrors"/>, every warning is an error (as the repository builds).
    /// </summary>
    public static CSharpCompilation Compile(IEnumerable<(string Path, string Text)> sources, string assemblyName = "UserModels", bool warningsAsErrors = false) =>
        CSharpCompilation.Create(
            assemblyName,
            sources.Select(s => CSharpSyntaxTree.ParseText(s.Text, ParseOptions, path: s.Path)),
            References,
            new CSharpCompilationOptions(
                OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable,
                generalDiagnosticOption: warningsAsErrors ? ReportDiagnostic.Error : ReportDiagnostic.Default,
                specificDiagnosticOptions: SdkDefaults));

    /// <summary>A parsed tree with the harness's options (for edits of a compilation).</summary>
    public static SyntaxTree Parse(string path, string text) => CSharpSyntaxTree.ParseText(text, ParseOptions, path: path);

    /// <summary>A driver for the SingLoRA generator (or <paramref name="generator"/>), with step tracking on unless turned off.</summary>
    public static GeneratorDriver CreateDriver(bool track = true, IIncrementalGenerator? generator = null) =>
        CSharpGeneratorDriver.Create(
            new[] { (generator ?? new SingLoRA.Generator.SingLoRAGenerator()).AsSourceGenerator() },
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: track));

    /// <summary>The result of one generator run.</summary>
    public sealed record GeneratorRun(GeneratorDriver Driver, GeneratorDriverRunResult Result, Compilation Output, ImmutableArray<Diagnostic> Diagnostics);

    /// <summary>Runs the generator and returns everything, without judging it.</summary>
    public static GeneratorRun RunGenerator(Compilation compilation, GeneratorDriver? driver = null)
    {
        driver = (driver ?? CreateDriver()).RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        return new GeneratorRun(driver, driver.GetRunResult(), output, diagnostics);
    }

    /// <summary>Every analyzer type of <paramref name="assembly"/> (those carrying [DiagnosticAnalyzer]), instantiated.</summary>
    public static ImmutableArray<DiagnosticAnalyzer> AnalyzersIn(Assembly assembly) =>
        assembly.GetTypes()
            .Where(t => !t.IsAbstract && typeof(DiagnosticAnalyzer).IsAssignableFrom(t) && t.GetCustomAttribute<DiagnosticAnalyzerAttribute>() is not null)
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .Select(t => (DiagnosticAnalyzer)Activator.CreateInstance(t)!)
            .ToImmutableArray();

    /// <summary>The analyzers' diagnostics on <paramref name="compilation"/>, and every exception an analyzer threw.</summary>
    public static async Task<(ImmutableArray<Diagnostic> Diagnostics, IReadOnlyList<string> Exceptions)> RunAnalyzersAsync(Compilation compilation, ImmutableArray<DiagnosticAnalyzer> analyzers)
    {
        var exceptions = new List<string>();
        var options = new CompilationWithAnalyzersOptions(
            new AnalyzerOptions(ImmutableArray<AdditionalText>.Empty),
            (exception, analyzer, _) => { lock (exceptions) exceptions.Add($"{analyzer.GetType().Name} threw {exception}"); },
            concurrentAnalysis: false, logAnalyzerExecutionTime: false);
        var diagnostics = await compilation.WithAnalyzers(analyzers, options).GetAnalyzerDiagnosticsAsync().ConfigureAwait(false);
        return (diagnostics, exceptions);
    }

    /// <summary>Errors and warnings of a compilation (generated code included), formatted.</summary>
    public static string[] Problems(Compilation compilation) =>
        compilation.GetDiagnostics()
            .Where(d => d.Severity >= DiagnosticSeverity.Warning || d.IsWarningAsError)
            .Select(d => d.ToString())
            .ToArray();
}
