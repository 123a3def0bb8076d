using System;
using System.Globalization;
using System.IO;
using System.Linq;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Running;

namespace SingLoRA.Benchmarks;

/// <summary>
/// The benchmarks app's command line (Program.cs only calls <see cref="Run(string[])"/>): our modes, <c>--help</c>, and
/// everything else handed to BenchmarkDotNet. Public so the tests can drive it in process.
/// </summary>
public static class Cli
{
    /// <summary>What <c>--help</c> (or <c>-h</c>) prints: one line per mode, what it does and where it writes.</summary>
    public const string Usage = """
        SingLoRA benchmarks (docs/performance.md explains every mode and its reports).

        Usage: dotnet run -c Release --project tests/SingLoRA.Benchmarks -- [mode] [arguments]

        Modes:
          --all                    the BenchmarkDotNet suite, then --bytes, --ratios, --memory-growth 10000 and --peak-memory 200; writes docs/benchmarks/
          --ratios [training|inference|wiring|transformer]
                                   interleaved timing ratios (robust to a busy machine); writes docs/benchmarks/interleaved-ratios.md
          --bytes                  trainable parameter + AdamW state bytes, counted exactly; writes docs/benchmarks/training-bytes.md
          --memory-growth [steps] [all|layer|transformer] [warm-up steps]
                                   memory over many training steps (default 10000, all, 500); not a timing; writes docs/benchmarks/memory-growth[-WHICH].md
          --peak-memory [steps]    quickstart transformer peak RSS and GC heap, one process per method (default 200); writes docs/benchmarks/transformer-peak-memory.md
          --generator-breakdown    generator time on a fresh and on an already bound compilation; prints a markdown table to the console
          --layout-probe [cases]   layouts of A compared, e.g. "512 r8 n512"; prints to the console
          --quick                  every variant built small, run for 2 steps and checked, no timing (what the test suite runs); prints to the console
          --device cuda|cpu [--report FILE] [--tokens N] [--shapes 4096x4096,...] [--ranks 8] [--dtypes bfloat16,float32] [--iters 20] [--warmup 5]
                                   one layer at LLM sizes on a device; writes --report FILE or docs/benchmarks/device-DEVICE.md
          --pytorch [--threads 1] [--rounds 12] [--batch 16] [--tokens 128] [--rank 8] [--step-seconds 1] [--infer-seconds 0.5]
                    [--onnx FOLDER] [--report FILE]
                                   TorchSharp against PyTorch (python/bench_twin.py, /usr/bin/python3 with torch) on the MiniLM
                                   classifier: SingLoRA and LoRA training steps, merged inference (and ONNX Runtime with --onnx),
                                   interleaved; writes docs/benchmarks/pytorch-comparison.md
          --help, -h               this text
          --bdn-help               BenchmarkDotNet's own options

        Any other arguments go to BenchmarkDotNet (e.g. --filter '*' or --filter '*TrainingStep*'): the suite runs with its
        artifacts in artifacts/benchmarks/ and each report is copied to docs/benchmarks/<class>.md.

        SINGLORA_BENCH_THREADS=1 pins libtorch to one thread (stable ratios on a loaded machine);
        SINGLORA_BENCH_GRID=full or "1024 r16 n64;2048x512 r4 n4096" chooses the suite's grid.
        """;

    /// <summary>Runs the app: the exit code. Reports go to docs/benchmarks/, BenchmarkDotNet's artifacts to artifacts/benchmarks/.</summary>
    public static int Run(string[] args) =>
        Run(args, Console.Out, Console.Error, Reports.DocsFolder(), Path.Combine(Reports.RepoRoot(), "artifacts", "benchmarks"));

    /// <summary>Runs the app with the given output writers and folders (the tests use temporary ones).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, string docs, string artifacts)
    {
        try
        {
            return Dispatch(args, output, docs, artifacts);
        }
        catch (UsageException e)
        {
            error.WriteLine($"error: {e.Message}");
            error.WriteLine("Run with --help to see every mode and its arguments.");
            return 2;
        }
    }

    static int Dispatch(string[] args, TextWriter output, string docs, string artifacts)
    {
        switch (args.FirstOrDefault())
        {
            case "--help" or "-h": output.WriteLine(Usage); return 0;
            case "--bdn-help": BenchmarkSwitcher.FromAssembly(typeof(Reports).Assembly).Run(new[] { "--help" }, Config(artifacts)); return 0;
            case "--ratios": Reports.Ratios(docs, args.Skip(1).ToArray()); return 0;
            case "--bytes": Reports.Bytes(docs); return 0;
            case "--memory-growth":
                Reports.MemoryGrowth(docs, Int(args, 1, "steps", 10_000, 1), args.Length > 2 ? args[2] : "all", Int(args, 3, "warm-up steps", 500, 0));
                return 0;
            case "--peak-memory": Reports.PeakMemory(docs, Int(args, 1, "steps", 200, 1)); return 0;
            case "--peak-memory-child": Reports.PeakMemoryChild(args[1], int.Parse(args[2], CultureInfo.InvariantCulture)); return 0;
            case "--layout-probe": foreach (var c in args.Length > 1 ? args.Skip(1) : new[] { "512 r8 n64", "512 r8 n512", "1024 r4 n256" }) LayoutProbe.Run(c); return 0;
            case "--generator-breakdown":
                output.WriteLine("| classes | first run, fresh compilation ms | first run, bound compilation ms | binding the project (GetDiagnostics) ms | re-run, no change ms | re-run, unrelated edit ms | values re-run by the edit |");
                output.WriteLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
                foreach (var n in new[] { 100, 1000 }) GeneratorBreakdown.Run(n, 5);
                return 0;
            case "--quick": return QuickRun.Run(output) ? 0 : 1;
            case "--pytorch":
                PyTorchComparison.Options options;
                try { options = PyTorchComparison.Options.Parse(args); }
                catch (ArgumentException e) { throw new UsageException(e.Message); }
                PyTorchComparison.Run(options, options.Report ?? Path.Combine(docs, "pytorch-comparison.md"), output);
                return 0;
            case "--device": SingLoRA.Platform.LibTorchRuntime.Configure(Console.Error); DeviceBench.Run(DeviceBench.Options.Parse(args), output); return 0;
            case "--all":
                RunSuite(new[] { "--filter", "*" }, output, docs, artifacts);
                Reports.Bytes(docs);
                Reports.Ratios(docs, Array.Empty<string>());
                Reports.MemoryGrowth(docs, 10_000);
                Reports.PeakMemory(docs, 200);
                return 0;
            default:
                RunSuite(args, output, docs, artifacts);
                return 0;
        }
    }

    /// <summary>
    /// The BenchmarkDotNet suite; then every <c>*-report-github.md</c> in <paramref name="artifacts"/>/results is copied to
    /// <paramref name="docs"/> with the machine in a header. The results folder is created first: BenchmarkDotNet creates
    /// it only when a benchmark ran, and a fresh clone has none.
    /// </summary>
    public static void RunSuite(string[] args, TextWriter output, string docs, string artifacts)
    {
        BenchmarkSwitcher.FromAssembly(typeof(Reports).Assembly).Run(args, Config(artifacts));
        var results = Path.Combine(artifacts, "results");
        Directory.CreateDirectory(results);
        Directory.CreateDirectory(docs);
        foreach (var file in Directory.EnumerateFiles(results, "*-report-github.md"))
        {
            var target = Path.Combine(docs, Path.GetFileName(file).Replace("-report-github", ""));
            var header = $"<!-- BenchmarkDotNet report; {Reports.Machine()} -->\n";
            File.WriteAllText(target, header + File.ReadAllText(file));
            output.WriteLine($"exported {target}");
        }
    }

    static IConfig Config(string artifacts) => DefaultConfig.Instance
        .WithArtifactsPath(artifacts)
        .AddExporter(MarkdownExporter.GitHub)
        .WithOptions(ConfigOptions.DisableLogFile);

    /// <summary>The optional whole-number argument at <paramref name="index"/>, or <paramref name="fallback"/> when absent.</summary>
    static int Int(string[] args, int index, string what, int fallback, int min)
    {
        if (args.Length <= index) return fallback;
        if (int.TryParse(args[index], NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= min) return value;
        throw new UsageException($"{args[0]} expects {what} as a whole number of at least {min} in argument {index + 1}, got '{args[index]}' (its default is {fallback}).");
    }

    sealed class UsageException(string message) : Exception(message);
}
