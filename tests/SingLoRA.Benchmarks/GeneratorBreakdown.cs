using System;
using System.Diagnostics;
using System.Linq;
using SingLoRA.Benchmarks.Harness;

namespace SingLoRA.Benchmarks;

/// <summary>
/// Where the generator's first-run time goes over a 1000-class project: the same run on a fresh compilation (cold:
/// symbols and bodies not yet bound, as a clean build) and on one the compiler has already bound (warm: the generator's
/// own work), alternated, plus the cost of binding the whole project once (<c>GetDiagnostics</c>) for scale.
/// </summary>
public static class GeneratorBreakdown
{
    /// <summary>Prints median milliseconds of each, over <paramref name="rounds"/> alternations.</summary>
    public static void Run(int classes, int rounds)
    {
        var w = GeneratorWorkload.Create(classes);
        GeneratorWorkload.Run(GeneratorWorkload.CreateDriver(track: false), w.Fresh());   // JIT
        var cold = new double[rounds];
        var warm = new double[rounds];
        var bind = new double[rounds];
        for (int r = 0; r < rounds; r++)
        {
            var c1 = w.Fresh();
            var sw = Stopwatch.StartNew();
            GeneratorWorkload.Run(GeneratorWorkload.CreateDriver(track: false), c1);
            cold[r] = sw.Elapsed.TotalMilliseconds;

            var c2 = w.Fresh();
            sw.Restart();
            c2.GetDiagnostics();
            bind[r] = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            GeneratorWorkload.Run(GeneratorWorkload.CreateDriver(track: false), c2);
            warm[r] = sw.Elapsed.TotalMilliseconds;
        }
        // Incremental re-runs of a driver that has seen the project: the same compilation again, and an unrelated edit.
        var driver = GeneratorWorkload.Run(GeneratorWorkload.CreateDriver(track: true), w.Compilation);
        var same = new double[rounds];
        var edit = new double[rounds];
        int rerun = -1;
        string reasons = "";
        for (int r = 0; r < rounds; r++)
        {
            var sw = Stopwatch.StartNew();
            GeneratorWorkload.Run(driver, w.Compilation);
            same[r] = sw.Elapsed.TotalMilliseconds;
            var edited = w.WithUnrelatedEdit(w.Compilation, r + 1);
            sw.Restart();
            var after = GeneratorWorkload.Run(driver, edited);
            edit[r] = sw.Elapsed.TotalMilliseconds;
            rerun = GeneratorWorkload.Reasons(after).Rerun;
            reasons = GeneratorWorkload.ReasonsByStep(after);
        }
        static double Median(double[] v) => v.OrderBy(x => x).ElementAt(v.Length / 2);
        Console.WriteLine($"| {classes} | {Median(cold):0} | {Median(warm):0} | {Median(bind):0} | {Median(same):0} | {Median(edit):0} | {rerun} ({reasons}) |");
    }
}
