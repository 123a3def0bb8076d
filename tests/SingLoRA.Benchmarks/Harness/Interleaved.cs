using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;

namespace SingLoRA.Benchmarks.Harness;

/// <summary>
/// Ratios that survive a busy machine: the operations run in alternation, round after round (the order rotated each
/// round), each round timing a batch of calls of every operation back to back, so a change of load hits all of them
/// alike. The ratio of two operations is the median over rounds of their per-round ratio.
/// </summary>
public static class Interleaved
{
    /// <summary>Result of one operation: median time per call, and the median per-round ratio to the reference operation.</summary>
    public sealed record Timing(string Name, double MedianMicroseconds, double RatioToReference, double RatioLow, double RatioHigh);

    /// <summary>
    /// Measures <paramref name="ops"/>; the first is the reference. Each op is calibrated to about
    /// <paramref name="batchMilliseconds"/> per batch; <paramref name="rounds"/> rounds. Ratio bounds are the 25th and 75th
    /// percentile of the per-round ratios.
    /// </summary>
    public static IReadOnlyList<Timing> Measure(IReadOnlyList<(string Name, Action Op)> ops, int rounds = 15, double batchMilliseconds = 60)
    {
        foreach (var (_, op) in ops) for (int i = 0; i < 3; i++) op();   // warm-up
        var calls = ops.Select(o => Calibrate(o.Op, batchMilliseconds)).ToArray();
        // Same number of calls for operations that are compared: use the smallest, so batches stay short.
        int common = calls.Min();
        var perCall = new double[ops.Count][];
        for (int i = 0; i < ops.Count; i++) perCall[i] = new double[rounds];
        var sw = new Stopwatch();
        for (int r = 0; r < rounds; r++)
        {
            for (int j = 0; j < ops.Count; j++)
            {
                int i = (j + r) % ops.Count;
                var op = ops[i].Op;
                sw.Restart();
                for (int c = 0; c < common; c++) op();
                sw.Stop();
                perCall[i][r] = sw.Elapsed.TotalMilliseconds * 1000 / common;
            }
        }
        var result = new List<Timing>();
        for (int i = 0; i < ops.Count; i++)
        {
            var ratios = Enumerable.Range(0, rounds).Select(r => perCall[i][r] / perCall[0][r]).OrderBy(x => x).ToArray();
            result.Add(new Timing(ops[i].Name, Median(perCall[i]), Percentile(ratios, 0.5), Percentile(ratios, 0.25), Percentile(ratios, 0.75)));
        }
        return result;
    }

    private static int Calibrate(Action op, double targetMs)
    {
        var sw = Stopwatch.StartNew();
        int n = 0;
        while (sw.Elapsed.TotalMilliseconds < targetMs / 2 || n < 1) { op(); n++; }
        double per = sw.Elapsed.TotalMilliseconds / n;
        return Math.Max(1, (int)Math.Round(targetMs / per));
    }

    /// <summary>The median of <paramref name="values"/> (any order).</summary>
    public static double Median(IEnumerable<double> values) => Percentile(values.OrderBy(x => x).ToArray(), 0.5);

    /// <summary>The <paramref name="p"/> quantile of <paramref name="sorted"/> (ascending), interpolated between neighbours.</summary>
    public static double Percentile(double[] sorted, double p)
    {
        double pos = p * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos), hi = (int)Math.Ceiling(pos);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }
}
