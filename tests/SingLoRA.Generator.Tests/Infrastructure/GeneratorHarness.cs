using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Basic.Reference.Assemblies;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SingLoRA.Generator;

namespace SingLoRA.Generator.Tests.Infrastructure;

/// <summary>Builds a compilation of user sources against .NET 10, TorchSharp and SingLoRA, and runs the generator on it.</summary>
public static class GeneratorHarness
{
    /// <summary>Parse options with the interceptors feature on for the generated namespace.</summary>
    public static readonly CSharpParseOptions ParseOptions = CSharpParseOptions.Default
        .WithLanguageVersion(LanguageVersion.Preview)
        .WithFeatures(new[] { new KeyValuePair<string, string>("InterceptorsNamespaces", "SingLoRA.Generated") });

    private static readonly ImmutableArray<MetadataReference> References = Net100.References.All
        .Concat(new MetadataReference[]
        {
            MetadataReference.CreateFromFile(typeof(SingLoRAAttribute).Assembly.Location),
            MetadataReference.CreateFromFile(typeof(TorchSharp.torch).Assembly.Location),
        })
        .ToImmutableArray();

    /// <summary>A library compilation of <paramref name="sources"/> (file name, text) with nullable on and every warning reported.</summary>
    public static CSharpCompilation Compile(params (string Path, string Text)[] sources) =>
        CSharpCompilation.Create(
            "UserModels",
            sources.Select(s => CSharpSyntaxTree.ParseText(s.Text, ParseOptions, path: s.Path)),
            References,
            new CSharpCompilationOptions(
                OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable,
                generalDiagnosticOption: ReportDiagnostic.Error,
                // What the SDK suppresses by default: assembly-version unification notes between reference sets.
                specificDiagnosticOptions: new Dictionary<string, ReportDiagnostic>
                {
                    ["CS1701"] = ReportDiagnostic.Suppress,
                    ["CS1702"] = ReportDiagnostic.Suppress,
                }));

    /// <summary>A driver with step tracking on.</summary>
    public static GeneratorDriver CreateDriver() =>
        CSharpGeneratorDriver.Create(
            new[] { new SingLoRAGenerator().AsSourceGenerator() },
            parseOptions: ParseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Runs the generator: the result, and the compilation with the generated files added.</summary>
    public static (GeneratorDriverRunResult Result, Compilation Output, GeneratorDriver Driver) Run(CSharpCompilation compilation, GeneratorDriver? driver = null)
    {
        driver = (driver ?? CreateDriver()).RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        if (!diagnostics.IsEmpty)
            throw new InvalidOperationException("The generator reported diagnostics: " + string.Join("; ", diagnostics));
        var result = driver.GetRunResult();
        if (result.Results.Any(r => r.Exception is not null))
            throw new InvalidOperationException("The generator threw.", result.Results.First(r => r.Exception is not null).Exception);
        return (result, output, driver);
    }

    /// <summary>Every error or warning of the compilation (generated code included), formatted.</summary>
    public static string[] Problems(Compilation compilation) =>
        compilation.GetDiagnostics()
            .Where(d => d.Severity >= DiagnosticSeverity.Warning || d.IsWarningAsError)
            .Select(d => d.ToString())
            .ToArray();
}
