using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;

namespace SpamFilter.Data;

/// <summary>One labelled text of a data file: the line it starts on, its text, its label, and its split (given by the file or drawn).</summary>
public sealed record LabelledText(int Line, string Text, string Label, Split Split);

/// <summary>How to read a data file: the column (CSV) or field (JSON Lines) names, and the seed and fractions of the split when the file has none.</summary>
public sealed record DataFileOptions(string TextColumn = "text", string LabelColumn = "label", string? SplitColumn = null, int Seed = 0,
    double ValidationFraction = 0.15, double TestFraction = 0.15);

/// <summary>The problems found in a data file, all of them, each naming the file and the line. Nothing trains when there is one.</summary>
public sealed class DataFileException : Exception
{
    public DataFileException(string file, IReadOnlyList<string> problems)
        : base(Describe(file, problems))
    {
        File = file;
        Problems = problems;
    }

    /// <summary>The data file.</summary>
    public string File { get; }

    /// <summary>Every problem, one sentence each.</summary>
    public IReadOnlyList<string> Problems { get; }

    /// <summary>The CSV reader's error as the one problem of <paramref name="file"/> (its "file, " prefix dropped).</summary>
    internal static DataFileException FromCsv(string file, InvalidDataException e) =>
        new(file, new[] { e.Message.StartsWith(file + ", ", StringComparison.Ordinal) ? e.Message[(file.Length + 2)..] : e.Message });

    private static string Describe(string file, IReadOnlyList<string> problems)
    {
        var sb = new StringBuilder($"{file}: {problems.Count} problem{(problems.Count == 1 ? "" : "s")} in the data; nothing was trained.");
        foreach (var p in problems.Take(20)) sb.Append("\n  ").Append(p);
        if (problems.Count > 20) sb.Append($"\n  ... and {problems.Count - 20} more.");
        return sb.ToString();
    }
}

/// <summary>
/// A labelled text data set read from a CSV file (a header row naming the columns) or a JSON Lines file (one object per line),
/// checked before anything trains, and split into train / validation / test: by the file's split column when it has one
/// (values <c>train</c>, <c>validation</c>, <c>test</c>), else per class, reproducibly from a seed.
/// </summary>
public sealed class TextDataSet
{
    private readonly Dictionary<string, int> _index;

    private TextDataSet(string source, IReadOnlyList<string> labels, IReadOnlyList<LabelledText> rows)
    {
        Source = source;
        Labels = labels;
        _index = labels.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => x.i, StringComparer.Ordinal);
        Rows = rows;
    }

    /// <summary>Where the data came from (the file, or the corpus' name).</summary>
    public string Source { get; }

    /// <summary>The classes, in ordinal order; a label's index here is its class index.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>Every row, in file order.</summary>
    public IReadOnlyList<LabelledText> Rows { get; }

    public IReadOnlyList<LabelledText> Train => Rows.Where(r => r.Split == Split.Train).ToList();
    public IReadOnlyList<LabelledText> Validation => Rows.Where(r => r.Split == Split.Validation).ToList();
    public IReadOnlyList<LabelledText> Test => Rows.Where(r => r.Split == Split.Test).ToList();

    /// <summary>The class index of <paramref name="label"/>.</summary>
    public int IndexOf(string label) => _index.TryGetValue(label, out int i) ? i : -1;

    /// <summary>Reads <paramref name="path"/>: JSON Lines when it ends in <c>.jsonl</c> or <c>.ndjson</c>, CSV otherwise.</summary>
    /// <exception cref="DataFileException">Anything wrong with the data, every problem with its line.</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static TextDataSet Load(string path, DataFileOptions options)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(options);
        if (!File.Exists(path)) throw new FileNotFoundException($"The data file {path} does not exist (--data names a CSV file with a header row, or a .jsonl file).", path);
        using var reader = new StreamReader(path, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: true);
        bool jsonl = path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase);
        return jsonl ? FromJsonLines(reader, path, options) : FromCsv(reader, path, options);
    }

    /// <summary>Reads CSV text (header row first).</summary>
    public static TextDataSet FromCsv(TextReader reader, string name, DataFileOptions options)
    {
        var records = ReadCsv(reader, name);
        if (records.Count == 0) throw new DataFileException(name, new[] { "line 1: the file is empty; it needs a header row (for example text,label) and one row per labelled text." });
        var header = records[0].Fields.Select(h => h.Trim()).ToList();
        var problems = new List<string>();
        int Column(string what, string column, string option)
        {
            int i = header.IndexOf(column);
            if (i < 0) problems.Add($"line {records[0].Line}: no column '{column}' for the {what} (the header has {string.Join(", ", header.Select(h => $"'{h}'"))}); name it with {option}.");
            return i;
        }
        int text = Column("text", options.TextColumn, "--text-column"), label = Column("label", options.LabelColumn, "--label-column");
        int split = options.SplitColumn is null ? -1 : Column("split", options.SplitColumn, "--split-column");
        if (problems.Count > 0) throw new DataFileException(name, problems);
        var raw = new List<(int Line, string Text, string Label, string? Split)>();
        foreach (var r in records.Skip(1))
        {
            if (r.Fields.Count != header.Count)
            {
                problems.Add($"line {r.Line}: {r.Fields.Count} field{(r.Fields.Count == 1 ? "" : "s")}, but the header has {header.Count} (a field holding a comma or a line end must be in double quotes).");
                continue;
            }
            raw.Add((r.Line, r.Fields[text], r.Fields[label], split < 0 ? null : r.Fields[split]));
        }
        return Build(name, raw, options, problems);
    }

    private static List<CsvRecord> ReadCsv(TextReader reader, string name)
    {
        try { return Csv.Read(reader, name).ToList(); }
        catch (InvalidDataException e) { throw DataFileException.FromCsv(name, e); }
    }

    /// <summary>Reads JSON Lines text: one object per line with the text, label (and split) fields; blank lines are skipped.</summary>
    public static TextDataSet FromJsonLines(TextReader reader, string name, DataFileOptions options)
    {
        var problems = new List<string>();
        var raw = new List<(int Line, string Text, string Label, string? Split)>();
        int lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (lineNumber == 1 && line.Length > 0 && line[0] == '\uFEFF') line = line[1..];
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind != JsonValueKind.Object) { problems.Add($"line {lineNumber}: not a JSON object (each line holds one object such as {{\"text\": \"...\", \"label\": \"...\"}})."); continue; }
                string? Field(string field, string option, bool required)
                {
                    if (!doc.RootElement.TryGetProperty(field, out var v))
                    {
                        if (required) problems.Add($"line {lineNumber}: no field '{field}' (the object has {string.Join(", ", doc.RootElement.EnumerateObject().Select(p => $"'{p.Name}'"))}); name it with {option}.");
                        return null;
                    }
                    return v.ValueKind switch
                    {
                        JsonValueKind.String => v.GetString(),
                        JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => v.GetRawText(),
                        JsonValueKind.Null => "",
                        _ => Bad(v.ValueKind),
                    };
                    string? Bad(JsonValueKind kind) { problems.Add($"line {lineNumber}: field '{field}' is a JSON {kind.ToString().ToLowerInvariant()}; it must be a string."); return null; }
                }
                var t = Field(options.TextColumn, "--text-column", true);
                var l = Field(options.LabelColumn, "--label-column", true);
                var s = options.SplitColumn is null ? null : Field(options.SplitColumn, "--split-column", true);
                if (t is null || l is null || (options.SplitColumn is not null && s is null)) continue;
                raw.Add((lineNumber, t, l, s));
            }
            catch (JsonException e)
            {
                problems.Add($"line {lineNumber}: not valid JSON ({e.Message.Split(" LineNumber:")[0]}).");
            }
        }
        if (raw.Count == 0 && problems.Count == 0) problems.Add("line 1: the file holds no objects; write one JSON object per line, such as {\"text\": \"...\", \"label\": \"...\"}.");
        return Build(name, raw, options, problems);
    }

    /// <summary>A data set from rows already split (the SpamAssassin corpus); the same checks apply.</summary>
    public static TextDataSet FromRows(string name, IEnumerable<LabelledText> rows, DataFileOptions? options = null) =>
        Build(name, rows.Select(r => (r.Line, r.Text, r.Label, (string?)SplitName(r.Split))).ToList(), (options ?? new DataFileOptions()) with { SplitColumn = "split" }, new List<string>());

    /// <summary>The split's name in a split column.</summary>
    public static string SplitName(Split split) => split switch { Split.Train => "train", Split.Validation => "validation", _ => "test" };

    private static TextDataSet Build(string name, List<(int Line, string Text, string Label, string? Split)> raw, DataFileOptions options, List<string> problems)
    {
        var rows = new List<(int Line, string Text, string Label, Split? Split)>();
        foreach (var (line, text, label, split) in raw)
        {
            bool ok = true;
            if (string.IsNullOrWhiteSpace(text)) { problems.Add($"line {line}: the text ('{options.TextColumn}') is empty; give every row a text or remove the row."); ok = false; }
            if (string.IsNullOrWhiteSpace(label)) { problems.Add($"line {line}: the label ('{options.LabelColumn}') is empty; give every row a label or remove the row."); ok = false; }
            Split? s = null;
            if (split is not null)
            {
                s = split.Trim().ToLowerInvariant() switch { "train" => Split.Train, "validation" => Split.Validation, "test" => Split.Test, _ => null };
                if (s is null) { problems.Add($"line {line}: split '{split}' in column '{options.SplitColumn}' is not train, validation or test."); ok = false; }
            }
            if (ok) rows.Add((line, text, label.Trim(), s));
        }
        var byLabel = rows.GroupBy(r => r.Label, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        foreach (var g in byLabel.Where(g => g.Count() == 1))
            problems.Add($"line {g.First().Line}: label '{g.Key}' is seen only once; every class needs examples to train on, to validate and to test with (at least 3). Add examples or remove the row.");
        if (options.SplitColumn is null)
        {
            foreach (var g in byLabel.Where(g => g.Count() == 2))
                problems.Add($"lines {g.First().Line} and {g.Last().Line}: label '{g.Key}' is seen only twice; the split needs at least 3 rows of every class (one each for train, validation and test).");
        }
        else
        {
            foreach (var g in byLabel.Where(g => g.Count() > 1))
            {
                var missing = new[] { Split.Train, Split.Validation, Split.Test }.Where(s => !g.Any(r => r.Split == s)).ToList();
                if (missing.Count > 0)
                    problems.Add($"line {g.First().Line}: class '{g.Key}' has no rows in the {string.Join(" or ", missing.Select(SplitName))} split (column '{options.SplitColumn}'; it has " +
                        $"{string.Join(", ", new[] { Split.Train, Split.Validation, Split.Test }.Select(s => $"{g.Count(r => r.Split == s)} {SplitName(s)}"))}); every class must be in every split.");
            }
        }
        if (problems.Count == 0 && byLabel.Count < 2)
            problems.Add(byLabel.Count == 0 ? "the file holds no labelled rows." : $"every row has the label '{byLabel[0].Key}'; a classifier needs at least two classes.");
        if (problems.Count > 0) throw new DataFileException(name, problems);

        var assigned = rows.Select(r => r.Split).ToArray();
        if (options.SplitColumn is null)
        {
            var random = new Random(options.Seed);
            foreach (var g in byLabel)
            {
                var indices = rows.Select((r, i) => (r, i)).Where(x => x.r.Label == g.Key).Select(x => x.i).ToArray();
                for (int i = indices.Length - 1; i > 0; i--) { int j = random.Next(i + 1); (indices[i], indices[j]) = (indices[j], indices[i]); }
                int test = Math.Max(1, (int)Math.Round(indices.Length * options.TestFraction)), validation = Math.Max(1, (int)Math.Round(indices.Length * options.ValidationFraction));
                if (test + validation >= indices.Length) { test = 1; validation = 1; }
                for (int k = 0; k < indices.Length; k++) assigned[indices[k]] = k < test ? Split.Test : k < test + validation ? Split.Validation : Split.Train;
            }
        }
        var labels = byLabel.Select(g => g.Key).ToList();
        return new TextDataSet(name, labels, rows.Select((r, i) => new LabelledText(r.Line, r.Text, r.Label, assigned[i]!.Value)).ToList());
    }
}

/// <summary>The texts of one column of a CSV file, or one field of a JSON Lines file, for labelling (no labels needed).</summary>
public static class TextColumn
{
    /// <summary>Reads the <paramref name="column"/> of every row; a missing column, an unreadable line or an empty text is an error naming the line.</summary>
    /// <exception cref="DataFileException">Every problem, with its line.</exception>
    public static IReadOnlyList<string> Read(TextReader reader, string name, string column, bool jsonLines)
    {
        var problems = new List<string>();
        var texts = new List<string>();
        if (jsonLines)
        {
            int lineNumber = 0;
            while (reader.ReadLine() is { } line)
            {
                lineNumber++;
                if (lineNumber == 1) line = line.TrimStart('\uFEFF');
                if (string.IsNullOrWhiteSpace(line)) continue;
                try
                {
                    using var doc = JsonDocument.Parse(line);
                    if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(column, out var v) && v.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(v.GetString()))
                        texts.Add(v.GetString()!);
                    else
                        problems.Add($"line {lineNumber}: no non-empty string field '{column}' (name the field with --text-column).");
                }
                catch (JsonException e) { problems.Add($"line {lineNumber}: not valid JSON ({e.Message.Split(" LineNumber:")[0]})."); }
            }
        }
        else
        {
            List<CsvRecord> records;
            try { records = Csv.Read(reader, name).ToList(); }
            catch (InvalidDataException e) { throw DataFileException.FromCsv(name, e); }
            if (records.Count == 0) throw new DataFileException(name, new[] { "line 1: the file is empty; it needs a header row naming the text column." });
            var header = records[0].Fields.Select(h => h.Trim()).ToList();
            int index = header.IndexOf(column);
            if (index < 0) throw new DataFileException(name, new[] { $"line {records[0].Line}: no column '{column}' (the header has {string.Join(", ", header.Select(h => $"'{h}'"))}); name it with --text-column." });
            foreach (var r in records.Skip(1))
            {
                if (r.Fields.Count != header.Count) problems.Add($"line {r.Line}: {r.Fields.Count} fields, but the header has {header.Count}.");
                else if (string.IsNullOrWhiteSpace(r.Fields[index])) problems.Add($"line {r.Line}: the text is empty.");
                else texts.Add(r.Fields[index]);
            }
        }
        if (problems.Count > 0) throw new DataFileException(name, problems);
        return texts;
    }
}
