using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;

namespace SingLoRA.Samples;

/// <summary>A markdown table.</summary>
public sealed class MarkdownTable
{
    private readonly string[] _header;
    private readonly List<string[]> _rows = new();

    /// <summary>Creates a table with these column headers.</summary>
    public MarkdownTable(params string[] header) => _header = header;

    /// <summary>Adds a row (as many cells as headers).</summary>
    public MarkdownTable Row(params object[] cells)
    {
        if (cells.Length != _header.Length) throw new ArgumentException($"Expected {_header.Length} cells, got {cells.Length}.");
        _rows.Add(cells.Select(Format).ToArray());
        return this;
    }

    /// <summary>Formats a number for a table: 4 significant digits, invariant culture.</summary>
    public static string Format(object cell) => cell switch
    {
        double d => d.ToString(Math.Abs(d) is > 0 and (< 1e-3 or >= 1e5) ? "0.000e+0" : "0.####", CultureInfo.InvariantCulture),
        float f => Format((double)f),
        _ => Convert.ToString(cell, CultureInfo.InvariantCulture) ?? "",
    };

    /// <inheritdoc />
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.AppendLine("| " + string.Join(" | ", _header) + " |");
        sb.AppendLine("|" + string.Concat(_header.Select(_ => " --- |")));
        foreach (var row in _rows) sb.AppendLine("| " + string.Join(" | ", row) + " |");
        return sb.ToString();
    }
}

/// <summary>Writes one experiment's report: a markdown file with the exact command, the hardware, the table(s) and the plot(s).</summary>
public static class Report
{
    /// <summary>The hardware line: logical CPUs, the CPU model name (from /proc/cpuinfo on Linux), OS, .NET, device.</summary>
    public static string Hardware(string device)
    {
        string model = "unknown CPU";
        try
        {
            if (File.Exists("/proc/cpuinfo"))
                model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? model;
        }
        catch (IOException) { }
        return $"{Environment.ProcessorCount} logical CPU(s), {model}; {RuntimeInformation.OSDescription}; .NET {Environment.Version}; TorchSharp device: {device}; torch threads: {TorchSharp.torch.get_num_threads()}";
    }

    /// <summary>Writes <paramref name="name"/>.md into <paramref name="directory"/> and returns its path.</summary>
    public static string Write(string directory, string name, string title, string command, string hardware, string body)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, name + ".md");
        var sb = new StringBuilder();
        sb.AppendLine($"# {title}").AppendLine();
        sb.AppendLine("Produced by:").AppendLine().AppendLine("```bash").AppendLine(command).AppendLine("```").AppendLine();
        sb.AppendLine($"Hardware: {hardware}.  ").AppendLine($"Written: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC.").AppendLine();
        sb.Append(body);
        File.WriteAllText(path, sb.ToString());
        return path;
    }
}
