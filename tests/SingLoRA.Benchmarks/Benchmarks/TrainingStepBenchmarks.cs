using System;
using System.Collections.Generic;
using System.Linq;
using BenchmarkDotNet.Attributes;
using SingLoRA.Benchmarks.Harness;

namespace SingLoRA.Benchmarks.Benchmarks;

/// <summary>One layer's training step (forward, MSE loss, backward, AdamW, ramp) for every variant; SingLoRA is the baseline of the ratios.</summary>
[Config(typeof(StepConfig))]
public class TrainingStepBenchmarks
{
    private LayerStep[] _steps = Array.Empty<LayerStep>();

    /// <summary>Shape, rank and rows of the layer (see <see cref="Grid"/>).</summary>
    [ParamsSource(nameof(Cases))]
    public LayerCase Case { get; set; } = LayerCase.Parse("512 r8 n64");

    /// <summary>The cases of this run: <see cref="Grid.Default"/>, or <see cref="Grid.Full"/> with SINGLORA_BENCH_GRID=full.</summary>
    public static IEnumerable<LayerCase> Cases() => Grid.Current();

    /// <summary>Builds every variant on the same base layer and batch.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _steps = Enum.GetValues<Variant>().Select(v => LayerStep.Create(v, Case.Shape, Case.Rank, Case.Rows)).ToArray();
        foreach (var s in _steps) { s.Step(); s.Step(); }
    }

    /// <summary>Frees every variant.</summary>
    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var s in _steps) s.Dispose();
    }

    private void Run(Variant v) => _steps[(int)v].Step();

    /// <summary>SingLoRA as shipped.</summary>
    [Benchmark(Baseline = true)] public void SingLoRA() => Run(Variant.SingLoRA);

    /// <summary>The same math in bare calls: the predicted cost.</summary>
    [Benchmark] public void IdealSingLoRA() => Run(Variant.IdealSingLoRA);

    /// <summary>LoRA, same rank.</summary>
    [Benchmark] public void LoRAEqualRank() => Run(Variant.LoRAEqualRank);

    /// <summary>LoRA, same parameter count.</summary>
    [Benchmark] public void LoRAEqualParams() => Run(Variant.LoRAEqualParams);

    /// <summary>Full fine-tuning of the layer.</summary>
    [Benchmark] public void FullFineTune() => Run(Variant.FullFineTune);

    /// <summary>The frozen base layer alone (forward and loss).</summary>
    [Benchmark] public void FrozenBase() => Run(Variant.Base);

    /// <summary>The foil that builds ΔW every step.</summary>
    [Benchmark] public void MaterialisingSingLoRA() => Run(Variant.MaterialisingSingLoRA);
}
