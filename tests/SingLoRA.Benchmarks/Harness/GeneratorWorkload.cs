using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SingLoRA.Generator;
using SingLoRA.Testing;

namespace SingLoRA.Benchmarks.Harness;

/// <summary>
/// An in-memory project of N annotated model classes (one file each, like a user's project) plus one unrelated helper
/// file, compiled by the shared <see cref="CompileHarness"/> (.NET 10, TorchSharp.dll and SingLoRA.dll metadata), and
/// the generator driven over it by <see cref="CSharpGeneratorDriver"/>.
/// </summary>
public sealed class GeneratorWorkload
{
    /// <summary>Interceptors on, for the generated namespace, as the build sets it (the shared compile harness's options).</summary>
    public static CSharpParseOptions ParseOptions => CompileHarness.ParseOptions;

    /// <summary>The helper file's path; editing it must re-run nothing.</summary>
    public const string HelperPath = "Helpers.cs";

    private const string Helper = """
        namespace Project.Util;

        public static class Helpers
        {
            public static int Twice(int x) => 2 * x;
        }
        """;

    /// <summary>One annotated module: Linear targets q and k (interceptors), a Module target-free v, a field-initialised layer.</summary>
    public static string ModelSource(int i) => $$"""
        using System;
        using SingLoRA;
        using TorchSharp;
        using TorchSharp.Modules;
        using static TorchSharp.torch;
        using static TorchSharp.torch.nn;

        namespace Project.Models{{i / 100}};

        [SingLoRA(Rank = 8, Targets = "q,k", Alpha = 16, RampLength = 200)]
        public partial class Attention{{i}} : Module<Tensor, Tensor>
        {
            private readonly Linear q = Linear(64, 64);
            private readonly Linear k;
            private readonly Linear v = Linear(64, 64);

            public Attention{{i}}() : base(nameof(Attention{{i}}))
            {
                k = Linear(64, 64);
                RegisterComponents();
            }

            public override Tensor forward(Tensor x)
            {
                var scores = q.forward(x).matmul(k.forward(x).transpose(-2, -1));
                return scores.softmax(-1).matmul(v.forward(x));
            }
        }
        """;

    private GeneratorWorkload(CSharpCompilation compilation, int classes)
    {
        Compilation = compilation;
        Classes = classes;
    }

    /// <summary>The user compilation (generator not yet run).</summary>
    public CSharpCompilation Compilation { get; }

    /// <summary>Number of annotated classes.</summary>
    public int Classes { get; }

    /// <summary>Parses <paramref name="classes"/> model files and the helper (parsing is the compiler's work, done here once).</summary>
    public static GeneratorWorkload Create(int classes)
    {
        var sources = Enumerable.Range(0, classes)
            .Select(i => ($"Models/Attention{i}.cs", ModelSource(i)))
            .Append((HelperPath, Helper));
        return new GeneratorWorkload(CompileHarness.Compile(sources, "UserProject"), classes);
    }

    /// <summary>A driver with step tracking on (the tracking is what shows that an edit re-ran nothing).</summary>
    public static GeneratorDriver CreateDriver(bool track = true) => CompileHarness.CreateDriver(track);

    /// <summary>A fresh compilation over the same syntax trees (no cached semantic state), as a new build would see it.</summary>
    public CSharpCompilation Fresh() => (CSharpCompilation)Compilation.Clone();

    /// <summary>The compilation with the helper's method body edited (<paramref name="version"/> makes each edit distinct).</summary>
    public CSharpCompilation WithUnrelatedEdit(CSharpCompilation compilation, int version)
    {
        var old = compilation.SyntaxTrees.Single(t => t.FilePath == HelperPath);
        var text = Helper.Replace("2 * x", $"x * 2 + {version.ToString(CultureInfo.InvariantCulture)} - {version.ToString(CultureInfo.InvariantCulture)}");
        return compilation.ReplaceSyntaxTree(old, CompileHarness.Parse(HelperPath, text));
    }

    /// <summary>The compilation with class 0's rank changed (an edit that must re-run that class, and only it).</summary>
    public CSharpCompilation WithRankEdit(CSharpCompilation compilation, int rank)
    {
        var old = compilation.SyntaxTrees.Single(t => t.FilePath == "Models/Attention0.cs");
        var text = ModelSource(0).Replace("Rank = 8", $"Rank = {rank.ToString(CultureInfo.InvariantCulture)}");
        return compilation.ReplaceSyntaxTree(old, CompileHarness.Parse("Models/Attention0.cs", text));
    }

    /// <summary>Runs the generator (not the rest of the compiler) and returns the updated driver.</summary>
    public static GeneratorDriver Run(GeneratorDriver driver, Compilation compilation) => driver.RunGenerators(compilation);

    /// <summary>
    /// Counts, over the pipeline's tracked steps and its outputs, the values that were computed again
    /// (<c>New</c> or <c>Modified</c>) and those that were reused (<c>Cached</c> or <c>Unchanged</c>).
    /// </summary>
    public static (int Rerun, int Reused) Reasons(GeneratorDriver driver)
    {
        var result = driver.GetRunResult().Results.Single();
        if (result.Exception is not null) throw new InvalidOperationException("The generator threw.", result.Exception);
        int rerun = 0, reused = 0;
        var steps = SingLoRAGenerator.TrackingNames.All.SelectMany(n => result.TrackedSteps.TryGetValue(n, out var s) ? s : ImmutableArray<IncrementalGeneratorRunStep>.Empty)
            .Concat(result.TrackedOutputSteps.SelectMany(s => s.Value));
        foreach (var step in steps)
            foreach (var (_, reason) in step.Outputs)
            {
                if (reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged) reused++;
                else rerun++;
            }
        return (rerun, reused);
    }

    /// <summary>
    /// For each tracked step, how many values were New, Modified, Unchanged (computed again, equal to before: Roslyn
    /// re-executes semantic transforms after any compilation change) or Cached (not computed again).
    /// </summary>
    public static string ReasonsByStep(GeneratorDriver driver)
    {
        var result = driver.GetRunResult().Results.Single();
        var parts = new List<string>();
        foreach (var name in SingLoRAGenerator.TrackingNames.All)
        {
            if (!result.TrackedSteps.TryGetValue(name, out var steps)) continue;
            var counts = steps.SelectMany(s => s.Outputs).GroupBy(o => o.Reason).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}");
            parts.Add($"{name}: {string.Join(", ", counts)}");
        }
        var outputs = result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs).GroupBy(o => o.Reason).Select(g => $"{g.Key} {g.Count()}");
        parts.Add($"output: {string.Join(", ", outputs)}");
        return string.Join("; ", parts);
    }

    /// <summary>Files generated by the last run.</summary>
    public static int GeneratedFiles(GeneratorDriver driver) => driver.GetRunResult().GeneratedTrees.Length;
}
