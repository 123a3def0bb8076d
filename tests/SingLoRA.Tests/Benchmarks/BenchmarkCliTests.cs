using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using SingLoRA.Benchmarks;
using Xunit;

namespace SingLoRA.Tests.Benchmarks;

/// <summary>
/// The benchmarks app's command line (tests/SingLoRA.Benchmarks, <see cref="Cli"/>), in process with temporary folders:
/// <c>--help</c> lists our modes, a fresh clone (no artifacts folder) does not crash, bad numbers get a clear error.
/// Nothing here runs a benchmark.
/// </summary>
public sealed class BenchmarkCliTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("singlora-bench-cli-").FullName;
    private string Docs => Path.Combine(_root, "docs", "benchmarks");
    private string Artifacts => Path.Combine(_root, "artifacts", "benchmarks");

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private (int Code, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = Cli.Run(args, output, error, Docs, Artifacts);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>The modes docs/performance.md documents (every <c>-- --mode</c> of its command block).</summary>
    private static string[] DocumentedModes()
    {
        string doc = File.ReadAllText(Path.Combine(SingLoRA.Tests.AdapterFiles.PythonProcess.RepoRoot(), "docs", "performance.md"));
        var modes = Regex.Matches(doc, @"--project tests/SingLoRA\.Benchmarks -- (--[a-z-]+)").Select(m => m.Groups[1].Value)
            .Where(m => m != "--filter").Distinct().ToArray();
        Assert.Contains("--all", modes); // the pattern still finds the doc's commands
        return modes;
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public void Help_lists_every_mode_with_where_it_writes_and_names_BenchmarkDotNet_for_the_rest(string flag)
    {
        var (code, output, error) = Run(flag);

        Assert.Equal(0, code);
        Assert.Equal("", error);
        foreach (var mode in DocumentedModes().Concat(new[] { "--device" }))
        {
            var line = output.Split('\n').SingleOrDefault(l => Regex.IsMatch(l, $@"^  {Regex.Escape(mode)}([ ,]|$)"));
            Assert.True(line is not null, $"--help does not list {mode}:\n{output}");
        }
        // Each mode's description says where its output goes.
        foreach (var mode in new[] { "--ratios", "--bytes", "--memory-growth", "--peak-memory", "--device" })
        {
            int at = output.IndexOf("\n  " + mode, StringComparison.Ordinal);
            int next = output.IndexOf("\n  --", at + 1, StringComparison.Ordinal);
            Assert.Contains("writes ", output[at..next]);
        }
        Assert.Contains("Any other arguments go to BenchmarkDotNet", output);
        Assert.False(Directory.Exists(Artifacts), "--help must not start BenchmarkDotNet");
        Assert.False(Directory.Exists(Docs), "--help must not write reports");
    }

    [Fact]
    public void The_suite_on_a_fresh_clone_without_an_artifacts_folder_does_not_crash()
    {
        // A filter that matches nothing: BenchmarkDotNet runs nothing and creates no results folder, as on a fresh clone.
        var (code, _, error) = Run("--filter", "NoSuchBenchmark_" + Guid.NewGuid().ToString("N"));

        Assert.Equal(0, code);
        Assert.Equal("", error);
        Assert.True(Directory.Exists(Path.Combine(Artifacts, "results")));
        Assert.Empty(Directory.EnumerateFiles(Docs));
    }

    [Theory]
    [InlineData("--peak-memory", "many")]
    [InlineData("--memory-growth", "0")]
    public void A_bad_step_count_is_refused_with_what_was_wrong_and_how_to_fix_it(string mode, string value)
    {
        var (code, output, error) = Run(mode, value);

        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains($"{mode} expects steps as a whole number of at least 1 in argument 2, got '{value}'", error);
        Assert.Contains("--help", error);
        Assert.False(Directory.Exists(Docs));
    }
}
