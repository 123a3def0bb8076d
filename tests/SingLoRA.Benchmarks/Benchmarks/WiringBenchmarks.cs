using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using SingLoRA.Benchmarks.Harness;
using static TorchSharp.torch;

namespace SingLoRA.Benchmarks.Benchmarks;

/// <summary>
/// Generated wiring (Linear fields, interceptors, a ConditionalWeakTable lookup per call) against the same block wired
/// by hand (SingLoRALinear fields): forward under inference_mode and a training step. Target: within 2%.
/// </summary>
[Config(typeof(StepConfig))]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class WiringBenchmarks
{
    private WiringStep _generated = null!, _hand = null!;

    /// <summary>Width of the attention block (64: the per-call overhead at its most visible; 512: typical).</summary>
    [Params(64, 512)]
    public int D { get; set; }

    /// <summary>Rows of the batch.</summary>
    [Params(64)]
    public int Rows { get; set; }

    /// <summary>Builds both blocks with the same weights.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _generated = new WiringStep(Wiring.Generated, D, Rows);
        _hand = new WiringStep(Wiring.Hand, D, Rows);
    }

    /// <summary>Frees them.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _generated.Dispose();
        _hand.Dispose();
    }

    /// <summary>Hand wiring, forward.</summary>
    [Benchmark(Baseline = true), BenchmarkCategory("forward")]
    public void HandForward()
    {
        using var _ = inference_mode();
        _hand.Forward().Dispose();
    }

    /// <summary>Generated wiring, forward.</summary>
    [Benchmark, BenchmarkCategory("forward")]
    public void GeneratedForward()
    {
        using var _ = inference_mode();
        _generated.Forward().Dispose();
    }

    /// <summary>Hand wiring, training step.</summary>
    [Benchmark(Baseline = true), BenchmarkCategory("step")]
    public void HandStep() => _hand.Step();

    /// <summary>Generated wiring, training step.</summary>
    [Benchmark, BenchmarkCategory("step")]
    public void GeneratedStep() => _generated.Step();
}
