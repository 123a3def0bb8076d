using System.Linq;
using SingLoRA.Benchmarks;
using Xunit;

namespace SingLoRA.Tests.Benchmarks;

/// <summary>
/// The quick mode of every benchmark in tests/SingLoRA.Benchmarks: each variant built small, run for two steps and
/// checked (materialising and bare-ops SingLoRA equal the shipped one in forward and gradients; merged inference equals
/// the unmerged layer; generated wiring equals hand wiring; parameter + AdamW bytes halve LoRA's on square layers; the
/// generator's runs and incrementality). No timing.
/// </summary>
public class BenchmarkQuickModeTests
{
    public static TheoryData<string> Checks()
    {
        var data = new TheoryData<string>();
        foreach (var (name, _) in QuickRun.Checks) data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Checks))]
    public void Benchmark_variant_quick_check(string check) =>
        QuickRun.Checks.Single(c => c.Name == check).Check();
}

/// <summary>The device benchmark (<c>--device</c>) on the CPU with tiny sizes: every variant runs and gets its row and ratios. No timing.</summary>
public class DeviceBenchModeTests
{
    [Fact]
    public void Every_variant_runs_and_is_reported()
    {
        string report = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"singlora-device-bench-{System.Guid.NewGuid():N}.md");
        try
        {
            var options = DeviceBench.Options.Parse(new[] { "--device", "cpu", "--tokens", "32", "--shapes", "16x24,24x16", "--ranks", "2,4", "--iters", "2", "--warmup", "1", "--report", report });
            var rows = DeviceBench.Run(options, System.IO.TextWriter.Null);

            // per shape and dtype: base + per rank (singlora, lora) x (2 precisions on bf16, 1 on fp32); inference: base + 2 per rank
            Assert.Equal(2 * ((1 + 2 * 4) + (1 + 2 * 2)) + 2 * ((1 + 2 * 2) + (1 + 2 * 2)), rows.Count);
            Assert.All(rows, r => Assert.True(r.MedianMs > 0 && r.MinMs <= r.MedianMs && r.MedianMs <= r.P90Ms, $"{r} has inconsistent times"));
            string text = System.IO.File.ReadAllText(report);
            foreach (var variant in new[] { "| base |", "| singlora |", "| lora |", "| singlora-bf16A |", "| lora-bf16A |", "| singlora-merged |", "| singlora-unmerged |" })
                Assert.Contains(variant, text);
            Assert.Contains("--device cpu --tokens 32 --shapes 16x24,24x16 --ranks 2,4", text);
        }
        finally
        {
            System.IO.File.Delete(report);
        }
    }
}
