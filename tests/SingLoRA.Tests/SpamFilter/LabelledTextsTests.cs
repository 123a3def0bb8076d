using System;
using System.IO;
using System.Linq;
using System.Text;
using SpamFilter.Data;
using Xunit;

namespace SingLoRA.Tests.SpamFilter;

/// <summary>Reading a user's labelled texts: the CSV and JSON Lines readers, the checks that run before training, and the seeded split.</summary>
public class LabelledTextsTests
{
    private static string WriteFile(string name, string content, bool bom = false)
    {
        var dir = Path.Combine(Path.GetTempPath(), "singlora-data-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, name);
        File.WriteAllBytes(path, (bom ? new byte[] { 0xEF, 0xBB, 0xBF } : Array.Empty<byte>()).Concat(Encoding.UTF8.GetBytes(content)).ToArray());
        return path;
    }

    private static DataFileException Refused(string path, DataFileOptions? options = null) =>
        Assert.Throws<DataFileException>(() => TextDataSet.Load(path, options ?? new DataFileOptions()));

    [Fact]
    public void A_BOM_CRLF_and_quoted_fields_with_commas_quotes_and_line_ends_just_work()
    {
        var csv = "id,text,label,split\r\n" +
                  "1,\"Refund, please\",billing,train\r\n" +
                  "2,\"Line one\r\nline two, with \"\"quotes\"\"\",tech,train\r\n" +
                  "3,plain,billing,validation\r\n" +
                  "4,\"x\",tech,validation\r\n" +
                  "5,more,billing,test\r\n" +
                  "6,last,tech,test\r\n";
        var path = WriteFile("tickets.csv", csv, bom: true);
        var data = TextDataSet.Load(path, new DataFileOptions(SplitColumn: "split"));
        Assert.Equal(new[] { "billing", "tech" }, data.Labels);
        Assert.Equal(6, data.Rows.Count);
        Assert.Equal("Refund, please", data.Rows[0].Text);
        Assert.Equal("Line one\r\nline two, with \"quotes\"", data.Rows[1].Text);
        // Lines count the line end inside the quoted field: the third record starts on line 5.
        Assert.Equal(new[] { 2, 3, 5, 6, 7, 8 }, data.Rows.Select(r => r.Line));
        Assert.Equal(2, data.Train.Count);
        Assert.Equal("x", data.Validation[1].Text);
        Assert.Equal("tech", data.Test[1].Label);
    }

    [Fact]
    public void Fields_written_with_Escape_read_back_unchanged()
    {
        var fields = new[] { "a,b", "say \"hi\"", "two\nlines", "cr\r\nlf", "", "plain", " spaced " };
        var line = string.Join(",", fields.Select(Csv.Escape)) + "\n";
        var record = Assert.Single(Csv.Read(new StringReader(line), "mem.csv"));
        Assert.Equal(fields, record.Fields);
    }

    [Fact]
    public void A_missing_column_names_the_file_the_header_line_the_columns_and_the_option()
    {
        var path = WriteFile("reviews.csv", "review,stars\ngood,5\n");
        var e = Refused(path);
        Assert.Contains(path, e.Message);
        Assert.Contains("line 1: no column 'text'", e.Message);
        Assert.Contains("'review', 'stars'", e.Message);
        Assert.Contains("--text-column", e.Message);
        Assert.Contains("line 1: no column 'label'", e.Message);   // both missing columns, in one error
        Assert.Contains("--label-column", e.Message);
        Assert.Equal(2, e.Problems.Count);
    }

    [Fact]
    public void Every_bad_row_is_reported_with_its_line_before_anything_trains()
    {
        var path = WriteFile("bad.csv",
            "text,label\n" +
            "fine,a\n" +
            "   ,a\n" +               // line 3: empty text
            "fine too,\n" +           // line 4: empty label
            "three,fields,here\n" +   // line 5: wrong field count
            "alone,b\n" +             // line 6: label seen once
            "ok,a\n" +
            "ok,a\n" +
            "two,c\n" +               // lines 9 and 10: label seen twice (the split needs 3)
            "two,c\n");
        var e = Refused(path);
        Assert.Contains("line 3: the text ('text') is empty", e.Message);
        Assert.Contains("line 4: the label ('label') is empty", e.Message);
        Assert.Contains("line 5: 3 fields, but the header has 2", e.Message);
        Assert.Contains("line 6: label 'b' is seen only once", e.Message);
        Assert.Contains("lines 9 and 10: label 'c' is seen only twice", e.Message);
        Assert.Equal(5, e.Problems.Count);
        Assert.Contains("nothing was trained", e.Message);
    }

    [Fact]
    public void A_class_missing_from_a_split_and_an_unknown_split_value_are_named()
    {
        var path = WriteFile("split.csv",
            "text,label,part\n" +
            "a1,a,train\na2,a,validation\na3,a,test\n" +
            "b1,b,train\nb2,b,train\nb3,b,validation\n" +   // b has no test row
            "c1,a,dev\n");                                  // line 8: unknown split value
        var e = Refused(path, new DataFileOptions(SplitColumn: "part"));
        Assert.Contains("line 5: class 'b' has no rows in the test split (column 'part'; it has 2 train, 1 validation, 0 test)", e.Message);
        Assert.Contains("line 8: split 'dev' in column 'part' is not train, validation or test", e.Message);
    }

    [Fact]
    public void An_unclosed_quote_names_the_line_where_it_opens()
    {
        var path = WriteFile("quote.csv", "text,label\nok,a\n\"never closed,a\nmore,b\n");
        var e = Refused(path);
        Assert.Contains("line 3: a quoted field opens here and is never closed", e.Message);
        var path2 = WriteFile("after.csv", "text,label\n\"quoted\"x,a\n");
        Assert.Contains("line 2: 'x' follows the closing quote of field 1", Refused(path2).Message);
    }

    [Fact]
    public void Json_lines_read_with_field_names_and_bad_lines_are_named()
    {
        var good = WriteFile("data.jsonl",
            string.Concat(Enumerable.Range(0, 9).Select(i => $"{{\"body\": \"text {i}, with \\\"quotes\\\"\\nand a line\", \"team\": \"{(i % 3 == 0 ? "sales" : "support")}\", \"n\": {i}}}\r\n")), bom: true);
        var data = TextDataSet.Load(good, new DataFileOptions("body", "team"));
        Assert.Equal(new[] { "sales", "support" }, data.Labels);
        Assert.Equal("text 0, with \"quotes\"\nand a line", data.Rows[0].Text);

        var bad = WriteFile("bad.jsonl", "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\"}\n\n[1, 2]\n{not json\n{\"text\": {\"nested\": 1}, \"label\": \"x\"}\n");
        var e = Refused(bad);
        Assert.Contains("line 2: no field 'label' (the object has 'text'); name it with --label-column", e.Message);
        Assert.Contains("line 4: not a JSON object", e.Message);
        Assert.Contains("line 5: not valid JSON", e.Message);
        Assert.Contains("line 6: field 'text' is a JSON object; it must be a string", e.Message);
    }

    [Fact]
    public void One_class_or_an_empty_file_is_refused()
    {
        Assert.Contains("at least two classes", Refused(WriteFile("one.csv", "text,label\na,x\nb,x\nc,x\n")).Message);
        Assert.Contains("line 1: the file is empty", Refused(WriteFile("empty.csv", "")).Message);
        Assert.Throws<FileNotFoundException>(() => TextDataSet.Load(Path.Combine(Path.GetTempPath(), "no-such-" + Guid.NewGuid().ToString("N") + ".csv"), new DataFileOptions()));
    }

    [Fact]
    public void Without_a_split_column_every_class_is_split_70_15_15_reproducibly_by_the_seed()
    {
        var sb = new StringBuilder("text,label\n");
        foreach (var label in new[] { "a", "b", "c" })
            for (int i = 0; i < (label == "c" ? 3 : 100); i++) sb.Append($"{label} text {i},{label}\n");
        var path = WriteFile("many.csv", sb.ToString());
        var first = TextDataSet.Load(path, new DataFileOptions(Seed: 1));
        var again = TextDataSet.Load(path, new DataFileOptions(Seed: 1));
        var other = TextDataSet.Load(path, new DataFileOptions(Seed: 2));
        Assert.Equal(first.Rows.Select(r => r.Split), again.Rows.Select(r => r.Split));
        Assert.NotEqual(first.Rows.Select(r => r.Split), other.Rows.Select(r => r.Split));
        foreach (var label in new[] { "a", "b" })
        {
            Assert.Equal(70, first.Train.Count(r => r.Label == label));
            Assert.Equal(15, first.Validation.Count(r => r.Label == label));
            Assert.Equal(15, first.Test.Count(r => r.Label == label));
        }
        // The smallest class still gets one row in each split.
        Assert.Equal(new[] { 1, 1, 1 }, new[] { first.Train, first.Validation, first.Test }.Select(s => s.Count(r => r.Label == "c")));
    }
}
