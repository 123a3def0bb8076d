using BenchmarkDotNet.Attributes;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SingLoRA.Benchmarks.Harness;

namespace SingLoRA.Benchmarks.Benchmarks;

/// <summary>The generator's first run over a project of N annotated classes (fresh compilation and driver each time). Target: 1000 in under a second.</summary>
[Config(typeof(SingleInvocationConfig))]
public class GeneratorBenchmarks
{
    private GeneratorWorkload _workload = null!;
    private CSharpCompilation _fresh = null!;
    private GeneratorDriver _driver = null!;

    /// <summary>Annotated classes in the project.</summary>
    [Params(1, 100, 1000)]
    public int Classes { get; set; }

    /// <summary>Parses the sources once.</summary>
    [GlobalSetup]
    public void Setup() => _workload = GeneratorWorkload.Create(Classes);

    /// <summary>A compilation with no semantic state yet and a new driver, as a clean build has.</summary>
    [IterationSetup]
    public void Fresh()
    {
        _fresh = _workload.Fresh();
        _driver = GeneratorWorkload.CreateDriver(track: false);
    }

    /// <summary>The generator's whole first run (binding, parsing the attribute, finding interceptable calls, emitting).</summary>
    [Benchmark]
    public GeneratorDriver FirstRun() => GeneratorWorkload.Run(_driver, _fresh);
}

/// <summary>One edit in a 1000-class project, re-run by the incremental driver that has seen the project once. Target: an unrelated edit re-runs nothing.</summary>
[Config(typeof(SingleInvocationConfig))]
public class GeneratorEditBenchmarks
{
    private GeneratorWorkload _workload = null!;
    private GeneratorDriver _warm = null!;
    private CSharpCompilation _edited = null!;
    private int _version;

    /// <summary>Annotated classes in the project.</summary>
    [Params(1000)]
    public int Classes { get; set; }

    /// <summary>Runs the generator once over the project (what the IDE or the previous build did).</summary>
    [GlobalSetup]
    public void Setup()
    {
        _workload = GeneratorWorkload.Create(Classes);
        _warm = GeneratorWorkload.Run(GeneratorWorkload.CreateDriver(track: false), _workload.Compilation);
    }

    /// <summary>An edit of the unrelated helper's method body.</summary>
    [IterationSetup(Target = nameof(UnrelatedEdit))]
    public void MakeUnrelatedEdit() => _edited = _workload.WithUnrelatedEdit(_workload.Compilation, ++_version);

    /// <summary>An edit of one class's rank.</summary>
    [IterationSetup(Target = nameof(RankEdit))]
    public void MakeRankEdit() => _edited = _workload.WithRankEdit(_workload.Compilation, 2 + (++_version % 6));

    /// <summary>The driver's re-run after an unrelated edit.</summary>
    [Benchmark(Baseline = true)]
    public GeneratorDriver UnrelatedEdit() => GeneratorWorkload.Run(_warm, _edited);

    /// <summary>The driver's re-run after one annotated class's rank changed.</summary>
    [Benchmark]
    public GeneratorDriver RankEdit() => GeneratorWorkload.Run(_warm, _edited);
}
