using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using SingLoRA.Benchmarks;
using SingLoRA.Tests.AdapterFiles;
using Xunit;

namespace SingLoRA.Tests.Benchmarks;

/// <summary>
/// The benchmarks app's <c>--pytorch</c> mode (TorchSharp against PyTorch on the MiniLM classifier), run as a user runs it
/// but tiny (one round, 2 sequences of 8 tokens): it measures what it says on both sides, and the report says so. Not a
/// timing test: the speed itself is measured by the mode and recorded in docs/performance.md.
/// </summary>
public sealed class PyTorchComparisonTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("singlora-vs-pytorch-test-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private (int Code, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = Cli.Run(args, output, error, Path.Combine(_root, "docs"), Path.Combine(_root, "artifacts"));
        return (code, output.ToString(), error.ToString());
    }

    [PythonTorchFact]
    public void Both_sides_run_the_same_model_and_the_report_has_every_operation_with_a_ratio()
    {
        var report = Path.Combine(_root, "comparison.md");
        var (code, output, error) = Run("--pytorch", "--rounds", "1", "--batch", "2", "--tokens", "8", "--step-seconds", "0.001", "--infer-seconds", "0.001", "--report", report);

        Assert.True(code == 0, output + error);
        var text = File.ReadAllText(report);
        // The plain model's logits agree between TorchSharp and the PyTorch twin: the two sides compute the same function.
        var agree = Regex.Match(text, @"logits agree between the sides within ([0-9.e+-]+)\.");
        Assert.True(agree.Success, text);
        Assert.True(double.Parse(agree.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) < 1e-5, text);
        // The same number of trainable values on both sides: q, k, v of 6 layers, 384 x 8 for SingLoRA's A (LoRA: A and B), plus the 770 of the head.
        Assert.Contains("| training step, SingLoRA r8 on q/k/v + head (batch 2 x 8 tokens, AdamW), TorchSharp | 56,066 / 56,066 |", text);
        Assert.Contains("| training step, LoRA r8 on q/k/v + head (same batch), TorchSharp | 111,362 / 111,362 |", text);
        var rows = text.Split('\n').Where(l => l.StartsWith("| training", StringComparison.Ordinal) || l.StartsWith("| inference", StringComparison.Ordinal)).ToList();
        Assert.Equal(4, rows.Count);
        foreach (var row in rows)
            Assert.Matches(@"\| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \([0-9.]+-[0-9.]+\) \|$", row.TrimEnd());
        Assert.Contains("PyTorch 1.", text);
    }

    [Theory]
    [InlineData("--rounds", "0", "--rounds takes a whole number of at least 1, not '0'")]
    [InlineData("--tokens", "600", "--tokens must be between 3 and 512 (BERT's position table), not 600")]
    [InlineData("--tokens", "2", "--tokens must be between 3 and 512")]
    [InlineData("--step-seconds", "x", "--step-seconds takes a positive number of seconds, not 'x'")]
    [InlineData("--speed", "2", "unknown option '--speed'")]
    [InlineData("--onnx", "no/such/folder", "--onnx no/such/folder is not a folder holding model.onnx; write one with")]
    public void Bad_options_are_named_before_anything_runs(string option, string value, string expected)
    {
        var (code, output, error) = Run("--pytorch", option, value);

        Assert.Equal(2, code);
        Assert.Contains(expected, error);
        Assert.Equal("", output);
    }
}
