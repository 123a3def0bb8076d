using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace SpamFilter.Data;

/// <summary>One CSV record: the line it starts on (1-based, counting every line end, also those inside quoted fields) and its fields.</summary>
public sealed record CsvRecord(int Line, IReadOnlyList<string> Fields);

/// <summary>
/// A small RFC 4180 reader: fields separated by commas, records by CRLF or LF (a lone CR too); a field in double quotes may hold
/// commas, line ends and doubled quotes (<c>""</c>). A UTF-8 byte-order mark is skipped. Malformed input (a quote that is never
/// closed, text after a closing quote) is an <see cref="InvalidDataException"/> naming the file and the line.
/// </summary>
public static class Csv
{
    /// <summary>Reads every record of <paramref name="reader"/>; <paramref name="fileName"/> is only for messages. Blank lines are skipped.</summary>
    public static IEnumerable<CsvRecord> Read(TextReader reader, string fileName)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var fields = new List<string>();
        var field = new StringBuilder();
        int line = 1, recordLine = 1;
        bool quoted = false, afterQuote = false, fieldStarted = false, first = true;
        int quoteLine = 0;
        while (true)
        {
            int c = reader.Read();
            if (first) { first = false; if (c == '\uFEFF') c = reader.Read(); }
            if (quoted)
            {
                if (c == -1)
                    throw new InvalidDataException($"{fileName}, line {quoteLine}: a quoted field opens here and is never closed (a double quote inside a quoted field is written as two: \"\").");
                if (c == '"')
                {
                    if (reader.Peek() == '"') { reader.Read(); field.Append('"'); }
                    else { quoted = false; afterQuote = true; }
                }
                else
                {
                    if (c == '\n' || (c == '\r' && reader.Peek() != '\n')) line++;
                    field.Append((char)c);
                }
                continue;
            }
            if (c == ',')
            {
                fields.Add(field.ToString());
                field.Clear();
                afterQuote = false;
                fieldStarted = true;
                continue;
            }
            if (c == '\r' || c == '\n' || c == -1)
            {
                if (c == '\r' && reader.Peek() == '\n') reader.Read();
                if (fieldStarted || field.Length > 0 || afterQuote || fields.Count > 0)
                {
                    fields.Add(field.ToString());
                    yield return new CsvRecord(recordLine, fields.ToArray());
                }
                fields.Clear();
                field.Clear();
                afterQuote = false;
                fieldStarted = false;
                if (c == -1) yield break;
                line++;
                recordLine = line;
                continue;
            }
            if (afterQuote)
                throw new InvalidDataException($"{fileName}, line {line}: '{(char)c}' follows the closing quote of field {fields.Count + 1}; a quoted field ends at a comma or a line end (a double quote inside it is written as two: \"\").");
            if (c == '"' && field.Length == 0)
            {
                quoted = true;
                quoteLine = line;
                fieldStarted = true;
                continue;
            }
            field.Append((char)c);
        }
    }

    /// <summary>Quotes a field for writing when it holds a comma, a quote or a line end (RFC 4180).</summary>
    public static string Escape(string field)
    {
        ArgumentNullException.ThrowIfNull(field);
        return field.AsSpan().IndexOfAny(",\"\r\n") < 0 ? field : "\"" + field.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }
}
