using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using SingLoRA.Benchmarks.Harness;
using TorchSharp;
using static TorchSharp.torch;

namespace SingLoRA.Benchmarks;

/// <summary>The non-BenchmarkDotNet measurements, each written as a markdown table under docs/benchmarks/.</summary>
public static class Reports
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The repository root (the folder holding SingLoRA.Gen.sln).</summary>
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "SingLoRA.Gen.sln"))) return dir.FullName;
        return Directory.GetCurrentDirectory();
    }

    /// <summary>docs/benchmarks/ in the repository.</summary>
    public static string DocsFolder() => Path.Combine(RepoRoot(), "docs", "benchmarks");

    /// <summary>CPU model, core count, load average and thread count, for the header of every report.</summary>
    public static string Machine()
    {
        string model = "unknown CPU";
        try
        {
            model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? model;
        }
        catch (IOException) { }
        string load = "?";
        try { load = File.ReadAllText("/proc/loadavg").Split(' ').Take(3).Aggregate((a, b) => a + " " + b); }
        catch (IOException) { }
        return $"{model}, {Environment.ProcessorCount} cores, torch threads {get_num_threads()}, load average {load}, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, .NET {Environment.Version}";
    }

    private static void Write(string docs, string name, StringBuilder body)
    {
        Directory.CreateDirectory(docs);
        var path = Path.Combine(docs, name);
        File.WriteAllText(path, body.ToString());
        Console.WriteLine(body.ToString());
        Console.WriteLine($"written {path}");
    }

    private static string F(double v, string format = "0.00") => v.ToString(format, Inv);

    // ---------------------------------------------------------------- interleaved ratios

    /// <summary>Interleaved ratios for the training variants, merged inference, wiring and the transformer.</summary>
    public static void Ratios(string docs, string[] which)
    {
        bool All(string s) => which.Length == 0 || which.Contains(s);
        var sb = new StringBuilder();
        sb.AppendLine("# Interleaved ratios");
        sb.AppendLine();
        sb.AppendLine($"Machine: {Machine()}.");
        sb.AppendLine();
        sb.AppendLine("Operations alternate round after round (order rotated each round); a ratio is the median over 15 rounds of the per-round ratio; [q1, q3] are its quartiles. Command: `dotnet run -c Release --project tests/SingLoRA.Benchmarks -- --ratios`.");
        sb.AppendLine();
        if (All("training"))
        {
            sb.AppendLine("## Training step of one layer (forward, MSE, backward, AdamW); times relative to SingLoRA");
            sb.AppendLine();
            // The fixed cost of a step (dispatch, autograd, AdamW bookkeeping), measured where the arithmetic is negligible.
            double floorIdeal, floorBase;
            {
                var tiny = LayerCase.Parse("16 r4 n8");
                using var fi = LayerStep.Create(Variant.IdealSingLoRA, tiny.Shape, tiny.Rank, tiny.Rows);
                using var fb = LayerStep.Create(Variant.Base, tiny.Shape, tiny.Rank, tiny.Rows);
                var ft = Interleaved.Measure(new (string, Action)[] { ("base", fb.Step), ("ideal", fi.Step) });
                floorBase = ft[0].MedianMicroseconds;
                floorIdeal = ft[1].MedianMicroseconds;
            }
            sb.AppendLine($"Fixed cost of a step where the arithmetic is negligible (16×16, rank 4, 8 rows): frozen base {F(floorBase, "0")} µs, bare-ops SingLoRA {F(floorIdeal, "0")} µs. " +
                "FLOP prediction = frozen-base time × (matrix-product FLOPs of the SingLoRA step / those of the base) + the difference of the fixed costs.");
            sb.AppendLine();
            sb.AppendLine("| case | SingLoRA µs | Ideal/SingLoRA | LoRA same r / SingLoRA | LoRA same params / SingLoRA | full FT / SingLoRA | frozen base / SingLoRA | materialising / SingLoRA | SingLoRA / Ideal [q1, q3] | FLOPs SingLoRA / base | SingLoRA / FLOP prediction |");
            sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
            foreach (var c in Grid.Current())
            {
                var steps = Enum.GetValues<Variant>().Select(v => LayerStep.Create(v, c.Shape, c.Rank, c.Rows)).ToArray();
                try
                {
                    var order = new[] { Variant.SingLoRA, Variant.IdealSingLoRA, Variant.LoRAEqualRank, Variant.LoRAEqualParams, Variant.FullFineTune, Variant.Base, Variant.MaterialisingSingLoRA };
                    var t = Interleaved.Measure(order.Select(v => (v.ToString(), (Action)steps[(int)v].Step)).ToList());
                    var inv = Interleaved.Measure(new (string, Action)[] { ("Ideal", steps[(int)Variant.IdealSingLoRA].Step), ("SingLoRA", steps[(int)Variant.SingLoRA].Step) });
                    double flopRatio = Flops.Step(Variant.SingLoRA, c) / Flops.Step(Variant.Base, c);
                    double predicted = t[0].MedianMicroseconds * t[5].RatioToReference * flopRatio + (floorIdeal - floorBase);
                    sb.AppendLine($"| {c} | {F(t[0].MedianMicroseconds, "0")} | {F(t[1].RatioToReference)} | {F(t[2].RatioToReference)} | {F(t[3].RatioToReference)} | {F(t[4].RatioToReference)} | {F(t[5].RatioToReference)} | {F(t[6].RatioToReference)} | {F(inv[1].RatioToReference, "0.000")} [{F(inv[1].RatioLow, "0.000")}, {F(inv[1].RatioHigh, "0.000")}] | {F(flopRatio, "0.000")} | {F(t[0].MedianMicroseconds / predicted, "0.00")} |");
                    Console.WriteLine($"training {c} done");
                }
                finally
                {
                    foreach (var s in steps) s.Dispose();
                }
            }
            sb.AppendLine();
        }
        if (All("inference"))
        {
            sb.AppendLine("## Inference (inference_mode): merged SingLoRA against the base layer");
            sb.AppendLine();
            sb.AppendLine("| case | base µs | merged / base [q1, q3] | unmerged / base |");
            sb.AppendLine("| --- | ---: | ---: | ---: |");
            foreach (var c in Benchmarks.InferenceBenchmarks.Cases())
            {
                var (b, m, u, x) = InferenceSet.Create(c.Shape, c.Rank, c.Rows);
                try
                {
                    var t = Interleaved.Measure(new (string, Action)[]
                    {
                        ("base", () => { using var _ = inference_mode(); b.forward(x).Dispose(); }),
                        ("merged", () => { using var _ = inference_mode(); m.forward(x).Dispose(); }),
                        ("unmerged", () => { using var _ = inference_mode(); u.forward(x).Dispose(); }),
                    }, rounds: 21);
                    sb.AppendLine($"| {c.Shape} n{c.Rows} | {F(t[0].MedianMicroseconds, "0.0")} | {F(t[1].RatioToReference, "0.000")} [{F(t[1].RatioLow, "0.000")}, {F(t[1].RatioHigh, "0.000")}] | {F(t[2].RatioToReference, "0.000")} |");
                }
                finally
                {
                    b.Dispose(); m.Dispose(); u.Dispose(); x.Dispose();
                }
            }
            sb.AppendLine();
        }
        if (All("wiring"))
        {
            sb.AppendLine("## Generated wiring against hand wiring (same block, same weights)");
            sb.AppendLine();
            sb.AppendLine("| d, rows | hand forward µs | generated / hand, forward [q1, q3] | hand step µs | generated / hand, step [q1, q3] |");
            sb.AppendLine("| --- | ---: | ---: | ---: | ---: |");
            foreach (var d in new[] { 64, 512 })
            {
                using var g = new WiringStep(Wiring.Generated, d, 64);
                using var h = new WiringStep(Wiring.Hand, d, 64);
                var fwd = Interleaved.Measure(new (string, Action)[]
                {
                    ("hand", () => { using var _ = inference_mode(); h.Forward().Dispose(); }),
                    ("generated", () => { using var _ = inference_mode(); g.Forward().Dispose(); }),
                }, rounds: 21);
                var step = Interleaved.Measure(new (string, Action)[] { ("hand", h.Step), ("generated", g.Step) }, rounds: 21);
                sb.AppendLine($"| {d}, 64 | {F(fwd[0].MedianMicroseconds, "0.0")} | {F(fwd[1].RatioToReference, "0.000")} [{F(fwd[1].RatioLow, "0.000")}, {F(fwd[1].RatioHigh, "0.000")}] | {F(step[0].MedianMicroseconds, "0.0")} | {F(step[1].RatioToReference, "0.000")} [{F(step[1].RatioLow, "0.000")}, {F(step[1].RatioHigh, "0.000")}] |");
            }
            sb.AppendLine();
        }
        if (All("transformer"))
        {
            sb.AppendLine("## Quickstart-size transformer, one training step");
            sb.AppendLine();
            sb.AppendLine("| method | step ms | / SingLoRA [q1, q3] |");
            sb.AppendLine("| --- | ---: | ---: |");
            var steps = Enum.GetValues<FineTune>().Select(f => new TransformerStep(f)).ToArray();
            try
            {
                var t = Interleaved.Measure(steps.Select(s => (s.FineTune.ToString(), (Action)s.Step)).ToList(), rounds: 11, batchMilliseconds: 150);
                foreach (var x in t)
                    sb.AppendLine($"| {x.Name} | {F(x.MedianMicroseconds / 1000, "0.00")} | {F(x.RatioToReference, "0.000")} [{F(x.RatioLow, "0.000")}, {F(x.RatioHigh, "0.000")}] |");
            }
            finally
            {
                foreach (var s in steps) s.Dispose();
            }
            sb.AppendLine();
        }
        Write(docs, "interleaved-ratios.md", sb);
    }

    // ---------------------------------------------------------------- bytes

    /// <summary>Trainable parameter and AdamW state bytes of every variant, counted from the tensors after two steps.</summary>
    public static void Bytes(string docs)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Bytes of trainable parameters and AdamW state");
        sb.AppendLine();
        sb.AppendLine($"Counted from the tensors (parameters, and every tensor in `optimizer.state_dict()`) after two steps, float32. Machine: {Machine()}. Command: `dotnet run -c Release --project tests/SingLoRA.Benchmarks -- --bytes`.");
        sb.AppendLine();
        sb.AppendLine("| shape | rank | variant | rank used | trainable values | parameter bytes | AdamW state bytes | total | / LoRA same rank |");
        sb.AppendLine("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var c in Grid.Default.DistinctBy(c => (c.Shape, c.Rank)))
        {
            long lora = 0;
            var rows = new List<(Variant V, TrainingBytes B)>();
            foreach (var v in Enum.GetValues<Variant>())
            {
                using var s = LayerStep.Create(v, c.Shape, c.Rank, 8);
                s.Step(); s.Step();
                var b = TrainingBytes.Of(s.Trainable.ToList(), s.Optimizer);
                rows.Add((v, b));
                if (v == Variant.LoRAEqualRank) lora = b.ParametersAndOptimizerState;
            }
            foreach (var (v, b) in rows)
                sb.AppendLine($"| {c.Shape} | {c.Rank} | {v} | {LayerStep.EffectiveRankOf(v, c.Shape, c.Rank)} | {b.TrainableValues:N0} | {b.ParameterBytes:N0} | {b.OptimizerStateBytes:N0} | {b.ParametersAndOptimizerState:N0} | {F((double)b.ParametersAndOptimizerState / lora, "0.000")} |");
        }
        Write(docs, "training-bytes.md", sb);
    }

    // ---------------------------------------------------------------- memory growth

    private static long RssBytes()
    {
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.WorkingSet64;
    }

    /// <summary>
    /// Memory over <paramref name="steps"/> training steps after a 500-step warm-up, for one 512×512 SingLoRA layer and the
    /// quickstart-size SingLoRA transformer: live tensors, managed heap (after a full GC) and RSS, sampled every tenth of the run.
    /// </summary>
    public static void MemoryGrowth(string docs, int steps, string which = "all", int warmup = 500)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# Memory over {steps:N0} training steps");
        sb.AppendLine();
        sb.AppendLine($"Not a timing. After {warmup:N0} warm-up steps, sampled every {steps / 10:N0} steps. MALLOC_MMAP_THRESHOLD_={Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") ?? "(glibc default)"}. Machine: {Machine()}. Command: `dotnet run -c Release --project tests/SingLoRA.Benchmarks -- --memory-growth {steps}`.");
        sb.AppendLine();
        void Track(string name, Action step)
        {
            for (int i = 0; i < warmup; i++) step();
            sb.AppendLine($"## {name}");
            sb.AppendLine();
            sb.AppendLine("| step | live tensors | managed heap KiB (after full GC) | RSS MiB |");
            sb.AppendLine("| ---: | ---: | ---: | ---: |");
            long live0 = DisposeScopeManager.Statistics.ThreadTotalLiveCount, heap0 = GC.GetTotalMemory(true), rss0 = RssBytes();
            sb.AppendLine($"| 0 | {live0} | {heap0 / 1024} | {F(rss0 / 1048576.0, "0.0")} |");
            long live = live0, heap = heap0, rss = rss0;
            var sw = Stopwatch.StartNew();
            for (int i = 1; i <= steps; i++)
            {
                step();
                if (i % Math.Max(1, steps / 10) == 0)
                {
                    live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
                    heap = GC.GetTotalMemory(true);
                    rss = RssBytes();
                    sb.AppendLine($"| {i} | {live} | {heap / 1024} | {F(rss / 1048576.0, "0.0")} |");
                }
            }
            sb.AppendLine();
            sb.AppendLine($"Growth: live tensors {live - live0:+0;-0;0}, managed heap {(heap - heap0) / 1024.0:+0.0;-0.0;0} KiB, RSS {(rss - rss0) / 1048576.0:+0.0;-0.0;0} MiB over {steps:N0} steps ({sw.Elapsed.TotalSeconds:0} s).");
            sb.AppendLine();
            Console.WriteLine($"{name}: done");
        }
        if (which is "all" or "layer")
            using (var layer = LayerStep.Create(Variant.SingLoRA, new LayerShape(512, 512), 8, 64))
                Track("SingLoRALinear 512×512, rank 8, 64 rows", layer.Step);
        if (which is "all" or "transformer")
            using (var transformer = new TransformerStep(FineTune.SingLoRA))
                Track("Quickstart-size transformer, generated SingLoRA on q, k and v", transformer.Step);
        Write(docs, which == "all" ? "memory-growth.md" : $"memory-growth-{which}.md", sb);
    }

    // ---------------------------------------------------------------- peak memory

    /// <summary>Peak RSS and managed heap of the quickstart-size transformer's training, one fresh process per method.</summary>
    public static void PeakMemory(string docs, int steps)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Quickstart-size transformer: peak memory of training");
        sb.AppendLine();
        sb.AppendLine($"Each method in its own process: RSS after building the model, peak RSS (VmHWM) after {steps} steps, and the largest managed heap seen. {TransformerConfig.Quickstart}. Machine: {Machine()}. Command: `dotnet run -c Release --project tests/SingLoRA.Benchmarks -- --peak-memory {steps}`.");
        sb.AppendLine();
        sb.AppendLine("| method | trainable values | RSS after build MiB | peak RSS MiB | peak − build MiB | peak managed heap KiB | ms / step |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var f in Enum.GetValues<FineTune>())
        {
            var psi = new ProcessStartInfo(Environment.ProcessPath!, $"--peak-memory-child {f} {steps}") { RedirectStandardOutput = true, UseShellExecute = false };
            if (Environment.ProcessPath!.EndsWith("dotnet", StringComparison.Ordinal))
                psi.Arguments = $"\"{typeof(Reports).Assembly.Location}\" " + psi.Arguments;
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            var line = output.Split('\n').LastOrDefault(l => l.StartsWith('|')) ?? $"| {f} | failed (exit {p.ExitCode}) |";
            sb.AppendLine(line.TrimEnd());
        }
        Write(docs, "transformer-peak-memory.md", sb);
    }

    /// <summary>The child process of <see cref="PeakMemory"/>: prints one table row.</summary>
    public static void PeakMemoryChild(string method, int steps)
    {
        var f = Enum.Parse<FineTune>(method);
        using var t = new TransformerStep(f);
        GC.Collect();
        long build = RssBytes();
        long peakHeap = 0;
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < steps; i++)
        {
            t.Step();
            peakHeap = Math.Max(peakHeap, GC.GetTotalMemory(false));
        }
        double ms = sw.Elapsed.TotalMilliseconds / steps;
        long hwm = File.ReadLines("/proc/self/status").Where(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(':')[1].Trim().Split(' ')[0], Inv) * 1024).FirstOrDefault();
        long values = t.Trainable.Sum(p => p.numel());
        Console.WriteLine($"| {f} | {values:N0} | {F(build / 1048576.0, "0.0")} | {F(hwm / 1048576.0, "0.0")} | {F((hwm - build) / 1048576.0, "0.0")} | {peakHeap / 1024:N0} | {F(ms, "0.0")} |");
    }
}
