using System;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SingLoRA.Testing;

namespace SingLoRA.Generator.Tests.Infrastructure;

/// <summary>The generator tests' view of the shared <see cref="CompileHarness"/>: every warning an error, and a run that must be clean.</summary>
public static class GeneratorHarness
{
    /// <summary>Parse options with the interceptors feature on for the generated namespace.</summary>
    public static CSharpParseOptions ParseOptions => CompileHarness.ParseOptions;

    /// <summary>A library compilation of <paramref name="sources"/> (file name, text) with nullable on and every warning an error.</summary>
    public static CSharpCompilation Compile(params (string Path, string Text)[] sources) => CompileHarness.Compile(sources, warningsAsErrors: true);

    /// <summary>A driver with step tracking on.</summary>
    public static GeneratorDriver CreateDriver() => CompileHarness.CreateDriver();

    /// <summary>Runs the generator, which must neither report nor throw: the result, and the compilation with the generated files added.</summary>
    public static (GeneratorDriverRunResult Result, Compilation Output, GeneratorDriver Driver) Run(CSharpCompilation compilation, GeneratorDriver? driver = null)
    {
        var run = CompileHarness.RunGenerator(compilation, driver);
        if (!run.Diagnostics.IsEmpty)
            throw new InvalidOperationException("The generator reported diagnostics: " + string.Join("; ", run.Diagnostics));
        if (run.Result.Results.FirstOrDefault(r => r.Exception is not null) is { Exception: { } exception })
            throw new InvalidOperationException("The generator threw.", exception);
        return (run.Result, run.Output, run.Driver);
    }

    /// <summary>Every error or warning of the compilation (generated code included), formatted.</summary>
    public static string[] Problems(Compilation compilation) => CompileHarness.Problems(compilation);
}
