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

    /// <summary>
    /// Saves a confusion matrix: one cell per (true class, predicted class) with its count, shaded by the share of the true
    /// class's rows it holds (white: none, dark blue: all), true classes top to bottom, predictions left to right.
    /// </summary>
    public static string ConfusionMatrix(string path, string title, IReadOnlyList<string> labels, int[,] counts, int cellSize = 110)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(counts);
        int n = labels.Count;
        if (counts.GetLength(0) != n || counts.GetLength(1) != n)
            throw new ArgumentException($"counts is {counts.GetLength(0)} x {counts.GetLength(1)}, but there are {n} labels.", nameof(counts));
        var plot = new Plot();
        var dark = new Color(31, 78, 140);
        for (int t = 0; t < n; t++)
        {
            int rowTotal = 0;
            for (int p = 0; p < n; p++) rowTotal += counts[t, p];
            for (int p = 0; p < n; p++)
            {
                double share = rowTotal == 0 ? 0 : (double)counts[t, p] / rowTotal;
                double top = n - t, bottom = n - t - 1;
                var cell = plot.Add.Rectangle(p, p + 1, bottom, top);
                cell.FillColor = Colors.White.MixedWith(dark, share);
                cell.LineColor = Colors.Gray;
                var text = plot.Add.Text($"{counts[t, p]:N0}", p + 0.5, bottom + 0.5);
                text.LabelAlignment = Alignment.MiddleCenter;
                text.LabelFontSize = Math.Clamp(cellSize / 5f, 10, 22);
                text.LabelBold = t == p;
                text.LabelFontColor = share > 0.5 ? Colors.White : Colors.Black;
            }
        }
        var bottomTicks = new ScottPlot.TickGenerators.NumericManual();
        var leftTicks = new ScottPlot.TickGenerators.NumericManual();
        for (int i = 0; i < n; i++)
        {
            bottomTicks.AddMajor(i + 0.5, labels[i]);
            leftTicks.AddMajor(n - i - 0.5, labels[i]);
        }
        plot.Axes.Bottom.TickGenerator = bottomTicks;
        plot.Axes.Left.TickGenerator = leftTicks;
        plot.Axes.SetLimits(0, n, 0, n);
        plot.HideGrid();
        plot.Title(title);
        plot.XLabel("predicted");
        plot.YLabel("true");
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
        int side = Math.Max(360, 160 + n * cellSize);
        plot.SavePng(path, side + 80, side);
        return path;
    }

    private static ScottPlot.TickGenerators.NumericAutomatic LogTicks() => new()
    {
        MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
        IntegerTicksOnly = true,
        LabelFormatter = v => Math.Pow(10, v).ToString("g3", System.Globalization.CultureInfo.InvariantCulture),
    };
}
