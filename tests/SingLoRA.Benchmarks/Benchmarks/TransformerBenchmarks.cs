using BenchmarkDotNet.Attributes;
using SingLoRA.Benchmarks.Harness;

namespace SingLoRA.Benchmarks.Benchmarks;

/// <summary>The quickstart-size transformer, one training step end to end. Peak memory: <c>--peak-memory</c> (separate processes).</summary>
[Config(typeof(StepConfig))]
public class TransformerBenchmarks
{
    private TransformerStep _step = null!;

    /// <summary>How it is fine-tuned.</summary>
    [Params(FineTune.SingLoRA, FineTune.LoRA, FineTune.FullFineTune)]
    public FineTune Method { get; set; }

    /// <summary>Builds the model and takes two steps (optimizer state allocated).</summary>
    [GlobalSetup]
    public void Setup()
    {
        _step = new TransformerStep(Method);
        _step.Step();
        _step.Step();
    }

    /// <summary>Frees it.</summary>
    [GlobalCleanup]
    public void Cleanup() => _step.Dispose();

    /// <summary>Forward, cross-entropy, backward, AdamW (and the ramp for SingLoRA).</summary>
    [Benchmark]
    public void TrainingStep() => _step.Step();
}
