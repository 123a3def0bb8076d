using System;
using System.Collections;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SingLoRA.Generator.Tests.Infrastructure;
using Xunit;
using static SingLoRA.Generator.SingLoRAGenerator;

namespace SingLoRA.Generator.Tests;

/// <summary>The pipeline caches: an unrelated edit re-emits nothing, an attribute edit re-runs; models hold no Roslyn objects.</summary>
public class IncrementalTests
{
    private const string Unrelated = """
        namespace Elsewhere;

        public static class Helpers
        {
            public static int Twice(int x) => 2 * x;
        }
        """;

    private static (GeneratorDriver Driver, CSharpCompilation Compilation) FirstRun()
    {
        var compilation = GeneratorHarness.Compile(("SelfAttention.cs", Cases.LinearTargets), ("Mlp.cs", Cases.NonSquareTarget), ("Helpers.cs", Unrelated));
        var (_, _, driver) = GeneratorHarness.Run(compilation);
        return (driver, compilation);
    }

    private static IEnumerable<(string Step, IncrementalStepRunReason Reason)> Reasons(GeneratorDriver driver)
    {
        var result = driver.GetRunResult().Results.Single();
        foreach (var name in TrackingNames.All)
        {
            Assert.True(result.TrackedSteps.ContainsKey(name), $"Step {name} was not tracked.");
            foreach (var step in result.TrackedSteps[name])
                foreach (var (_, reason) in step.Outputs)
                    yield return (name, reason);
        }
        foreach (var step in result.TrackedOutputSteps.SelectMany(s => s.Value))
            foreach (var (_, reason) in step.Outputs)
                yield return ("output", reason);
    }

    private static void AssertAllCached(GeneratorDriver driver)
    {
        var reasons = Reasons(driver).ToList();
        Assert.NotEmpty(reasons);
        Assert.All(reasons, r => Assert.True(r.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{r.Step}: {r.Reason}"));
    }

    [Fact]
    public void Adding_an_unrelated_file_leaves_every_step_cached_or_unchanged()
    {
        var (driver, compilation) = FirstRun();
        var edited = compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("namespace Elsewhere; public class Other { }", GeneratorHarness.ParseOptions, path: "Other.cs"));
        var (_, _, next) = GeneratorHarness.Run(edited, driver);
        AssertAllCached(next);
    }

    [Fact]
    public void Changing_an_unrelated_method_body_leaves_every_step_cached_or_unchanged()
    {
        var (driver, compilation) = FirstRun();
        var old = compilation.SyntaxTrees.Single(t => t.FilePath == "Helpers.cs");
        var edited = compilation.ReplaceSyntaxTree(old, CSharpSyntaxTree.ParseText(Unrelated.Replace("2 * x", "x + x"), GeneratorHarness.ParseOptions, path: "Helpers.cs"));
        var (_, _, next) = GeneratorHarness.Run(edited, driver);
        AssertAllCached(next);
    }

    [Fact]
    public void Changing_the_rank_reruns_that_module_only()
    {
        var (driver, compilation) = FirstRun();
        var old = compilation.SyntaxTrees.Single(t => t.FilePath == "SelfAttention.cs");
        var edited = compilation.ReplaceSyntaxTree(old, CSharpSyntaxTree.ParseText(Cases.LinearTargets.Replace("Rank = 8", "Rank = 4"), GeneratorHarness.ParseOptions, path: "SelfAttention.cs"));
        var (result, _, next) = GeneratorHarness.Run(edited, driver);

        var steps = next.GetRunResult().Results.Single().TrackedSteps;
        foreach (var name in TrackingNames.All)
            Assert.Contains(steps[name].SelectMany(s => s.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
        // The other module (Mlp) stays as it was.
        Assert.Contains(steps[TrackingNames.Emit].SelectMany(s => s.Outputs), o => o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged);
        var source = result.Results.Single().GeneratedSources.Single(s => s.HintName == "Models.SelfAttention.SingLoRA.g.cs");
        Assert.Contains("new global::SingLoRA.SingLoRAOptions(Rank: 4, Alpha: 16d, RampLength: 200)", source.SourceText.ToString());
    }

    [Fact]
    public void Pipeline_models_hold_no_symbols_syntax_locations_or_compilations()
    {
        var (driver, compilation) = FirstRun();
        // Run again on a clone, so every step has produced values twice.
        var (_, _, again) = GeneratorHarness.Run(compilation.Clone(), driver);
        foreach (var run in new[] { driver, again })
        {
            var result = run.GetRunResult().Results.Single();
            int walked = 0;
            foreach (var name in TrackingNames.All)
                foreach (var step in result.TrackedSteps[name])
                    foreach (var (value, _) in step.Outputs)
                        walked += Walk(value, new HashSet<object>(ReferenceEqualityComparer.Instance), name);
            Assert.True(walked > 20, $"Walked only {walked} objects: the check would prove nothing.");
        }
    }

    private static readonly Type[] Forbidden = { typeof(ISymbol), typeof(SyntaxNode), typeof(SyntaxTree), typeof(Location), typeof(Compilation), typeof(SemanticModel) };

    private static int Walk(object? value, HashSet<object> seen, string path)
    {
        if (value is null) return 0;
        var type = value.GetType();
        Assert.False(Forbidden.Any(f => f.IsAssignableFrom(type)), $"{path} holds a {type.FullName}.");
        Assert.False(type.Namespace?.StartsWith("Microsoft.CodeAnalysis", StringComparison.Ordinal) == true, $"{path} holds a Roslyn {type.FullName}.");
        if (type.IsPrimitive || type.IsEnum || value is string || value is decimal) return 1;
        if (!type.IsValueType && !seen.Add(value)) return 0;
        int count = 1;
        if (value is IEnumerable items)
        {
            int i = 0;
            foreach (var item in items) count += Walk(item, seen, $"{path}[{i++}]");
        }
        foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
            count += Walk(field.GetValue(value), seen, $"{path}.{field.Name}");
        return count;
    }
}
