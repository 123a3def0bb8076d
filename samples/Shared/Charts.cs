using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using ScottPlot;

namespace SingLoRA.Samples;

/// <summary>One line or scatter series: its name and points.</summary>
public sealed record Series(string Name, double[] X, double[] Y, bool Markers = false);

/// <summary>PNG charts with ScottPlot (renders headless through SkiaSharp's self-contained Linux native library).</summary>
public static class Charts
{
    /// <summary>
    /// Saves a line chart (legend in the corner <paramref name="legend"/>). With <paramref name="logX"/> / <paramref name="logY"/> the data are plotted as log10 values
    /// with tick labels written back in linear units (ScottPlot 5's way of drawing log axes); non-positive values are dropped there.
    /// </summary>
    public static string Lines(string path, string title, string xLabel, string yLabel, IEnumerable<Series> series,
        bool logX = false, bool logY = false, int width = 900, int height = 540, Alignment legend = Alignment.UpperRight)
    {
        ArgumentNullException.ThrowIfNull(path);
        var plot = new Plot();
        foreach (var s in series)
        {
            var points = s.X.Zip(s.Y).Where(p => double.IsFinite(p.First) && double.IsFinite(p.Second) && (!logX || p.First > 0) && (!logY || p.Second > 0)).ToArray();
            if (points.Length == 0) continue;
            var xs = points.Select(p => logX ? Math.Log10(p.First) : p.First).ToArray();
            var ys = points.Select(p => logY ? Math.Log10(p.Second) : p.Second).ToArray();
            var scatter = plot.Add.Scatter(xs, ys);
            scatter.LegendText = s.Name;
            scatter.LineWidth = 2;
            scatter.MarkerSize = s.Markers ? 7 : 0;
        }
        if (logX) plot.Axes.Bottom.TickGenerator = LogTicks();
        if (logY) plot.Axes.Left.TickGenerator = LogTicks();
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend(legend);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
        plot.SavePng(path, width, height);
        return path;
    }

    private static ScottPlot.TickGenerators.NumericAutomatic LogTicks() => new()
    {
        MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
        IntegerTicksOnly = true,
        LabelFormatter = v => Math.Pow(10, v).ToString("g3", System.Globalization.CultureInfo.InvariantCulture),
    };
}
