using System;
using System.IO;
using System.Linq;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Running;
using SingLoRA.Benchmarks;
using SingLoRA.Platform;

// Modes (see docs/performance.md):
//   (BenchmarkDotNet arguments, e.g. --filter '*')   the BenchmarkDotNet suite; reports copied to docs/benchmarks/
//   --all                                            the suite, then every mode below: the full run
//   --ratios [training|inference|wiring|transformer] interleaved ratios (robust to a busy machine)
//   --bytes                                          trainable parameter + AdamW state bytes, exactly
//   --memory-growth [steps] [all|layer|transformer] [warm-up steps]   memory over 10,000 training steps (not a timing)
//   --peak-memory [steps]                            quickstart transformer peak RSS / GC heap, one process per method
//   --layout-probe [cases]                           why SingLoRA trails LoRA by a few per cent: layouts of A compared
//   --generator-breakdown                            generator time on a fresh vs an already bound compilation
//   --quick                                          every variant, 2 steps, checked (what the test suite runs)
//   --device cuda|cpu [--report FILE] [--tokens N] [--shapes 4096x4096,...] [--ranks 8] [--dtypes bfloat16,float32] [--iters 20] [--warmup 5]
//                                                    one layer at LLM sizes on a device (docs/performance.md, "GPU")
// SINGLORA_BENCH_THREADS=1 pins libtorch to one thread: on a loaded machine OpenMP barriers waiting for a descheduled
// thread make 2-thread timings erratic; one thread gives stable ratios (the default is libtorch's: one per core).
if (int.TryParse(Environment.GetEnvironmentVariable("SINGLORA_BENCH_THREADS"), out int threads) && threads > 0)
    TorchSharp.torch.set_num_threads(threads);
var docs = Reports.DocsFolder();
switch (args.FirstOrDefault())
{
    case "--ratios": Reports.Ratios(docs, args.Skip(1).ToArray()); return 0;
    case "--bytes": Reports.Bytes(docs); return 0;
    case "--memory-growth":
        Reports.MemoryGrowth(docs, args.Length > 1 ? int.Parse(args[1]) : 10_000, args.Length > 2 ? args[2] : "all", args.Length > 3 ? int.Parse(args[3]) : 500);
        return 0;
    case "--peak-memory": Reports.PeakMemory(docs, args.Length > 1 ? int.Parse(args[1]) : 200); return 0;
    case "--peak-memory-child": Reports.PeakMemoryChild(args[1], int.Parse(args[2])); return 0;
    case "--layout-probe": foreach (var c in args.Length > 1 ? args.Skip(1) : new[] { "512 r8 n64", "512 r8 n512", "1024 r4 n256" }) LayoutProbe.Run(c); return 0;
    case "--generator-breakdown":
        Console.WriteLine("| classes | first run, fresh compilation ms | first run, bound compilation ms | binding the project (GetDiagnostics) ms | re-run, no change ms | re-run, unrelated edit ms | values re-run by the edit |");
        Console.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var n in new[] { 100, 1000 }) GeneratorBreakdown.Run(n, 5);
        return 0;
    case "--quick": return QuickRun.Run(Console.Out) ? 0 : 1;
    case "--device": SingLoRA.Platform.LibTorchRuntime.Configure(Console.Error); DeviceBench.Run(DeviceBench.Options.Parse(args), Console.Out); return 0;
    case "--all":
        RunSuite(new[] { "--filter", "*" }, docs);
        Reports.Bytes(docs);
        Reports.Ratios(docs, Array.Empty<string>());
        Reports.MemoryGrowth(docs, 10_000);
        Reports.PeakMemory(docs, 200);
        return 0;
    default:
        RunSuite(args, docs);
        return 0;
}

static void RunSuite(string[] args, string docs)
{
    var artifacts = Path.Combine(Reports.RepoRoot(), "artifacts", "benchmarks");
    var config = DefaultConfig.Instance
        .WithArtifactsPath(artifacts)
        .AddExporter(MarkdownExporter.GitHub)
        .WithOptions(ConfigOptions.DisableLogFile);
    var summaries = BenchmarkSwitcher.FromAssembly(typeof(Reports).Assembly).Run(args, config);
    Directory.CreateDirectory(docs);
    foreach (var file in Directory.EnumerateFiles(Path.Combine(artifacts, "results"), "*-report-github.md"))
    {
        var target = Path.Combine(docs, Path.GetFileName(file).Replace("-report-github", ""));
        var header = $"<!-- BenchmarkDotNet report; {Reports.Machine()} -->\n";
        File.WriteAllText(target, header + File.ReadAllText(file));
        Console.WriteLine($"exported {target}");
    }
}
