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
