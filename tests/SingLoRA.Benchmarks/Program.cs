using System;
using System.IO;
using System.Linq;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Running;
using SingLoRA.Benchmarks;

// Modes (see docs/performance.md):
//   (BenchmarkDotNet arguments, e.g. --filter '*')   the BenchmarkDotNet suite; reports copied to docs/benchmarks/
//   --all                                            the suite, then every mode below: the full run
//   --ratios [training|inference|wiring|transformer] interleaved ratios (robust to a busy machine)
//   --bytes                                          trainable parameter + AdamW state bytes, exactly
//   --memory-growth [steps]                          memory before/after 10,000 training steps (not a timing)
//   --peak-memory [steps]                            quickstart transformer peak RSS / GC heap, one process per method
//   --quick                                          every variant, 2 steps, checked (what the test suite runs)
var docs = Reports.DocsFolder();
switch (args.FirstOrDefault())
{
    case "--ratios": Reports.Ratios(docs, args.Skip(1).ToArray()); return 0;
    case "--bytes": Reports.Bytes(docs); return 0;
    case "--memory-growth": Reports.MemoryGrowth(docs, args.Length > 1 ? int.Parse(args[1]) : 10_000); return 0;
    case "--peak-memory": Reports.PeakMemory(docs, args.Length > 1 ? int.Parse(args[1]) : 200); return 0;
    case "--peak-memory-child": Reports.PeakMemoryChild(args[1], int.Parse(args[2])); return 0;
    case "--quick": return QuickRun.Run(Console.Out) ? 0 : 1;
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
