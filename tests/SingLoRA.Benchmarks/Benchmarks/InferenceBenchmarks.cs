using System.Collections.Generic;
using System.Linq;
using BenchmarkDotNet.Attributes;
using SingLoRA.Benchmarks.Harness;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA.Benchmarks.Benchmarks;

/// <summary>Inference (under <c>inference_mode</c>): the merged SingLoRA layer against the bare base layer (target: within 2%).</summary>
[Config(typeof(StepConfig))]
public class InferenceBenchmarks
{
    private Linear _base = null!;
    private SingLoRALinear _merged = null!, _unmerged = null!;
    private Tensor _x = null!;

    /// <summary>Shape and rows (rank 8).</summary>
    [ParamsSource(nameof(Cases))]
    public LayerCase Case { get; set; } = LayerCase.Parse("512 r8 n64");

    /// <summary>One case per shape kind.</summary>
    public static IEnumerable<LayerCase> Cases() =>
        new[] { "512 r8 n64", "1024 r8 n256", "512x2048 r8 n256", "2048x512 r8 n256", "2048 r8 n1024" }.Select(LayerCase.Parse);

    /// <summary>Builds the base layer, a merged adapter and an unmerged one (each on its own copy of the same weights).</summary>
    [GlobalSetup]
    public void Setup()
    {
        (_base, _merged, _unmerged, _x) = InferenceSet.Create(Case.Shape, Case.Rank, Case.Rows);
    }

    /// <summary>Frees them.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        _base.Dispose(); _merged.Dispose(); _unmerged.Dispose(); _x.Dispose();
    }

    /// <summary>The bare base layer.</summary>
    [Benchmark(Baseline = true)]
    public void Base()
    {
        using var _ = inference_mode();
        _base.forward(_x).Dispose();
    }

    /// <summary>The merged adapter.</summary>
    [Benchmark]
    public void Merged()
    {
        using var _ = inference_mode();
        _merged.forward(_x).Dispose();
    }

    /// <summary>The unmerged adapter (for reference: what merging saves).</summary>
    [Benchmark]
    public void Unmerged()
    {
        using var _ = inference_mode();
        _unmerged.forward(_x).Dispose();
    }
}
