using System;
using System.Collections.Generic;
using System.Linq;

namespace SingLoRA.Samples;

/// <summary>Small descriptive statistics for result tables.</summary>
public static class Stats
{
    /// <summary>The <paramref name="q"/>-quantile (linear interpolation), <c>q</c> in [0, 1].</summary>
    public static double Quantile(IEnumerable<double> values, double q)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).OrderBy(v => v).ToArray();
        if (sorted.Length == 0) return double.NaN;
        double pos = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos), hi = (int)Math.Ceiling(pos);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }

    /// <summary>The median.</summary>
    public static double Median(IEnumerable<double> values) => Quantile(values, 0.5);

    /// <summary>The mean (NaN for none).</summary>
    public static double Mean(IEnumerable<double> values)
    {
        var a = values.ToArray();
        return a.Length == 0 ? double.NaN : a.Average();
    }

    /// <summary>The sample standard deviation (0 for fewer than two values).</summary>
    public static double StdDev(IEnumerable<double> values)
    {
        var a = values.ToArray();
        if (a.Length < 2) return 0;
        double m = a.Average();
        return Math.Sqrt(a.Sum(x => (x - m) * (x - m)) / (a.Length - 1));
    }

    /// <summary>The per-index median of equally long curves.</summary>
    public static double[] MedianCurve(IReadOnlyList<float[]> curves)
    {
        if (curves.Count == 0) return Array.Empty<double>();
        int n = curves.Min(c => c.Length);
        return Enumerable.Range(0, n).Select(i => Median(curves.Select(c => (double)c[i]))).ToArray();
    }

    /// <summary>A moving average over <paramref name="window"/> points (shorter at the start), for readable loss curves.</summary>
    public static double[] Smooth(IReadOnlyList<float> values, int window)
    {
        var result = new double[values.Count];
        double sum = 0;
        for (int i = 0; i < values.Count; i++)
        {
            sum += values[i];
            if (i >= window) sum -= values[i - window];
            result[i] = sum / Math.Min(i + 1, window);
        }
        return result;
    }
}
