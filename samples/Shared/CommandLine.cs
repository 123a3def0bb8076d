using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace SingLoRA.Samples;

/// <summary>
/// A deliberately tiny option parser: <c>--name value</c>, <c>--name=value</c> and flags. Every option is declared
/// where it is read, with its default and a help line, so <c>--help</c> lists exactly what the app reads, and
/// <see cref="EffectiveCommand"/> spells out every value the run used (the command that reproduces it).
/// </summary>
public sealed class CommandLine
{
    private readonly Dictionary<string, string?> _given = new(StringComparer.Ordinal);
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);
    private readonly List<(string Name, string Default, string Help)> _declared = new();
    private readonly List<(string Name, string Value, bool IsFlag)> _effective = new();

    /// <summary>Parses <paramref name="args"/>; <paramref name="commandPrefix"/> is how the app is started (for help and the printed command).</summary>
    public CommandLine(string[] args, string commandPrefix)
    {
        ArgumentNullException.ThrowIfNull(args);
        CommandPrefix = commandPrefix;
        var positional = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            var a = args[i];
            if (a == "-h" || a == "--help") { HelpRequested = true; continue; }
            if (!a.StartsWith("--", StringComparison.Ordinal)) { positional.Add(a); continue; }
            var body = a[2..];
            int eq = body.IndexOf('=');
            if (eq >= 0) _given[body[..eq]] = body[(eq + 1)..];
            else if (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal)) _given[body] = args[++i];
            else _given[body] = null; // a flag
        }
        Positional = positional;
    }

    /// <summary>How the app is started, for example <c>dotnet run --project samples/Quickstart -c Release --</c>.</summary>
    public string CommandPrefix { get; }

    /// <summary>Arguments that are not options (sub-command names).</summary>
    public IReadOnlyList<string> Positional { get; }

    /// <summary>True when <c>--help</c> or <c>-h</c> was given.</summary>
    public bool HelpRequested { get; }

    /// <summary>An integer option.</summary>
    public int Int(string name, int def, string help) => Get(name, def, help, s => int.Parse(s, CultureInfo.InvariantCulture), v => v.ToString(CultureInfo.InvariantCulture));

    /// <summary>A floating-point option.</summary>
    public double Double(string name, double def, string help) => Get(name, def, help, s => double.Parse(s, CultureInfo.InvariantCulture), v => v.ToString("R", CultureInfo.InvariantCulture));

    /// <summary>A string option.</summary>
    public string String(string name, string def, string help) => Get(name, def, help, s => s, v => v);

    /// <summary>A comma-separated list of numbers.</summary>
    public double[] Doubles(string name, double[] def, string help) =>
        Get(name, def, help,
            s => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(x => double.Parse(x, CultureInfo.InvariantCulture)).ToArray(),
            v => string.Join(",", v.Select(x => x.ToString("R", CultureInfo.InvariantCulture))));

    /// <summary>An enum option (case-insensitive names).</summary>
    public T Enum<T>(string name, T def, string help) where T : struct, System.Enum =>
        Get(name, def, help + $" ({string.Join("|", System.Enum.GetNames<T>())})", s => System.Enum.Parse<T>(s, ignoreCase: true), v => v.ToString());

    /// <summary>A flag: present or not.</summary>
    public bool Flag(string name, string help)
    {
        _declared.Add(("--" + name, "off", help));
        _read.Add(name);
        if (!_given.TryGetValue(name, out var value)) return false;
        if (value is not null) throw new ArgumentException($"--{name} is a flag and takes no value (got '{value}').");
        _effective.Add((name, "", true));
        return true;
    }

    private T Get<T>(string name, T def, string help, Func<string, T> parse, Func<T, string> format)
    {
        _declared.Add(("--" + name, format(def), help));
        _read.Add(name);
        T result = def;
        if (_given.TryGetValue(name, out var text))
        {
            if (text is null) throw new ArgumentException($"--{name} needs a value (default {format(def)}).");
            try { result = parse(text); }
            catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
            {
                throw new ArgumentException($"--{name}: cannot read '{text}' ({e.Message}). Default: {format(def)}.", e);
            }
        }
        _effective.Add((name, format(result), false));
        return result;
    }

    /// <summary>Throws for options that no code read (typos), naming the known ones.</summary>
    public void ThrowOnUnknown()
    {
        var unknown = _given.Keys.Where(k => !_read.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"Unknown option(s): {string.Join(", ", unknown.Select(u => "--" + u))}. Known: {string.Join(" ", _read.OrderBy(x => x).Select(x => "--" + x))}.");
    }

    /// <summary>The help text: every declared option with its default.</summary>
    public string Help(string title)
    {
        var sb = new StringBuilder();
        sb.AppendLine(title).AppendLine().AppendLine($"Usage: {CommandPrefix} [options]").AppendLine().AppendLine("Options:");
        int width = _declared.Count == 0 ? 0 : _declared.Max(d => d.Name.Length);
        foreach (var (name, def, help) in _declared.DistinctBy(d => d.Name))
            sb.AppendLine($"  {name.PadRight(width)}  {help} [default: {def}]");
        return sb.ToString();
    }

    /// <summary>The command with every value this run used, so that it reproduces the run even if defaults change.</summary>
    public string EffectiveCommand(string? subcommand = null, IEnumerable<string>? skip = null)
    {
        var skipSet = new HashSet<string>(skip ?? Array.Empty<string>());
        var sb = new StringBuilder(CommandPrefix);
        if (subcommand is not null) sb.Append(' ').Append(subcommand);
        foreach (var (name, value, isFlag) in _effective.DistinctBy(e => e.Name))
        {
            if (skipSet.Contains(name)) continue;
            sb.Append(" --").Append(name);
            if (!isFlag) sb.Append(' ').Append(value);
        }
        return sb.ToString();
    }
}
