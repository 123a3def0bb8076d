using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Xunit;
using Xunit.Abstractions;

namespace SingLoRA.Robustness.Tests;

/// <summary>
/// The generator never breaks a build, never fails internally (SLG0022), and no analyzer throws, whatever half-typed
/// code the IDE hands them; every class or target the generator skips is named by an SLG diagnostic saying why; and
/// every forward pass of an adapted Linear target is either intercepted or reported (SLG0014).
/// The suite runs a fixed number of cases; `SINGLORA_FUZZ_ITERATIONS` and `SINGLORA_FUZZ_SEED` set a longer run
/// (see docs/reliability.md). Every failure prints its seed and case and saves the input for reproduction.
/// </summary>
public class CompileTimeFuzzTests(ITestOutputHelper output)
{
    public const int SuiteIterations = 1000;
    public const int DefaultSeed = 20261128;

    internal const string FileSeparator = "\n// ---- next file ----\n";

    /// <summary>The usings of the small hand-written inputs below (five lines, the last one empty).</summary>
    private const string Usings = "using SingLoRA;\nusing TorchSharp.Modules;\nusing static TorchSharp.torch;\nusing static TorchSharp.torch.nn;\n\n";

    internal static IReadOnlyList<(string Name, string Source)> Corpus { get; } = LoadResources("Corpus.");

    private static IReadOnlyList<(string Name, string Source)> Regressions { get; } = LoadResources("Regressions.");

    private static IReadOnlyList<(string, string)> LoadResources(string prefix)
    {
        var assembly = Assembly.GetExecutingAssembly();
        return assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal)
            .Select(n => (n, new StreamReader(assembly.GetManifestResourceStream(n)!).ReadToEnd())).ToList();
    }

    public static IEnumerable<object[]> RegressionNames => Regressions.Select(r => new object[] { r.Name });

    [Theory]
    [MemberData(nameof(RegressionNames))]
    public void Inputs_that_once_broke_something_stay_fixed(string name)
    {
        var source = Regressions.Single(r => r.Name == name).Source;
        var problems = new FuzzHarness().Run(source.Split(FileSeparator));
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    private static int EnvInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var value) ? value : fallback;

    [Fact]
    public void The_corpus_compiles_clean_with_the_generator_so_mutations_start_from_real_code()
    {
        var harness = new FuzzHarness();
        Assert.True(harness.AnalyzerCount > 0, "no analyzers found");
        Assert.True(Corpus.Count >= 5);
        foreach (var (name, source) in Corpus)
        {
            var problems = harness.Run(new[] { source }, out var diagnostics);
            Assert.Empty(problems);
            var errors = diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
            Assert.True(errors.Count == 0, $"{name}: {string.Join(Environment.NewLine, errors)}");
        }
    }

    [Fact]
    public void The_skip_property_fails_when_no_diagnostic_explains_a_skip()
    {
        // The same inputs the property passes on with the analyzers, without them: a skipped class and a skipped target.
        const string source = Usings + """
            [SingLoRA(Rank = 2, Targets = "q")]
            public class NotPartial : Module<Tensor, Tensor>
            {
                private readonly Linear q = Linear(4, 4);
                public NotPartial() : base("n") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => q.forward(x);
            }

            [SingLoRA(Rank = 2, Targets = "q, missing")]
            public partial class Partial : Module<Tensor, Tensor>
            {
                private readonly Linear q = Linear(4, 4);
                public Partial() : base("p") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => q.forward(x);
            }
            """;
        Assert.Empty(new FuzzHarness().Run(source));
        var problems = new FuzzHarness(withAnalyzers: false).Run(source);
        Assert.Equal(2, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("class NotPartial got no generated code", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("target 'missing' of Partial got no adapter", StringComparison.Ordinal));
    }

    [Fact]
    public void The_call_property_fails_when_a_call_is_neither_intercepted_nor_reported()
    {
        // A target called inside its class (intercepted) and from another class (not intercepted: SLG0014 reports it).
        const string source = Usings + """
            [SingLoRA(Rank = 2, Targets = "q")]
            public partial class Block : Module<Tensor, Tensor>
            {
                internal readonly Linear q = Linear(4, 4);
                public Block() : base("b") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => q.forward(x);
            }

            public static class Outside
            {
                public static Tensor Run(Block b, Tensor x) => b.q.call(x);
            }
            """;
        var harness = new FuzzHarness();
        Assert.Empty(harness.Run(source));
        Assert.Equal((2, 1), (harness.TargetCalls, harness.InterceptedCalls));
        var problems = new FuzzHarness(withAnalyzers: false).Run(source);
        Assert.Equal("the call 'b.q.call(x)' of target 'q' of Block (Model0.cs, line 16) is neither intercepted nor reported by an SLG diagnostic", Assert.Single(problems));
    }

    [Fact]
    public void Nothing_escapes_the_generator_or_the_analyzers_on_mutated_model_files()
    {
        int iterations = EnvInt("SINGLORA_FUZZ_ITERATIONS", SuiteIterations);
        int seed = EnvInt("SINGLORA_FUZZ_SEED", DefaultSeed);
        var harness = new FuzzHarness();
        var failures = new List<string>();
        int multiFile = 0;
        for (int i = 0; i < iterations && failures.Count < 5; i++)
        {
            var rng = new Random(unchecked(seed * 1_000_003 + i)); // deterministic across processes (HashCode is not)
            var sources = new List<string> { Mutator.Mutate(Corpus[rng.Next(Corpus.Count)].Source, rng) };
            if (rng.Next(4) == 0)
            {
                sources.Add(Mutator.Mutate(Corpus[rng.Next(Corpus.Count)].Source, rng)); // two files, as in a real project
                multiFile++;
            }
            IReadOnlyList<string> problems;
            try
            {
                problems = harness.Run(sources.ToArray());
            }
            catch (Exception e)
            {
                problems = new[] { $"the harness itself threw {e}" };
            }
            if (problems.Count > 0)
            {
                var path = FuzzHarness.SaveForReproduction(string.Join(FileSeparator, sources), seed, i);
                failures.Add($"seed {seed}, case {i} (input saved to {path}): {problems[0]}");
            }
        }
        output.WriteLine($"{iterations} mutated inputs ({multiFile} with two files), seed {seed}, {harness.AnalyzerCount} analyzers, {Corpus.Count} corpus files, {Mutator.OperationCount} mutation kinds; "
            + $"{harness.AnnotatedClasses} [SingLoRA] classes seen, {harness.SkippedClasses} skipped and {harness.SkippedTargets} targets skipped, each explained by an SLG diagnostic; "
            + $"{harness.TargetCalls} forward passes of adapted Linear targets, {harness.InterceptedCalls} intercepted and the rest reported; no SLG0022.");
        // The property must have had something to check, or it proves nothing.
        Assert.True(iterations < 100 || harness.SkippedClasses > 0 && harness.SkippedTargets > 0, "the mutations never made the generator skip a class and a target");
        Assert.True(iterations < 100 || harness.InterceptedCalls > 0 && harness.TargetCalls > harness.InterceptedCalls, "the mutations never gave both an intercepted and a reported target call");
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }
}
