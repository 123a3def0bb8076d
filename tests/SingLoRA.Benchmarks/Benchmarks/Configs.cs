using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;

namespace SingLoRA.Benchmarks.Benchmarks;

/// <summary>
/// Jobs sized for a 2-core machine. In-process (no generated project: a second copy of libtorch in another build folder
/// would cost 500 MB and a build per run); one launch, 2 warm-up and 7 measured iterations of about 200 ms.
/// </summary>
public sealed class StepConfig : ManualConfig
{
    /// <summary>The job for steady-state operations (training steps, forwards).</summary>
    public StepConfig()
    {
        AddJob(Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(2)
            .WithIterationCount(7)
            .WithIterationTime(TimeInterval.FromMilliseconds(200))
            .WithId("2core"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddColumn(RankColumn.Arabic);
    }
}

/// <summary>For operations that need fresh state each time (the generator's first run, an edit): one call per iteration.</summary>
public sealed class SingleInvocationConfig : ManualConfig
{
    /// <summary>One invocation per iteration, 3 warm-up and 9 measured iterations.</summary>
    public SingleInvocationConfig()
    {
        AddJob(Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithLaunchCount(1)
            .WithWarmupCount(3)
            .WithIterationCount(9)
            .WithInvocationCount(1)
            .WithUnrollFactor(1)
            .WithId("1call"));
        AddDiagnoser(MemoryDiagnoser.Default);
    }
}
