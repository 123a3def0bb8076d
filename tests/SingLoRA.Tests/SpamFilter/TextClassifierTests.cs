using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using SpamFilter.Data;
using Xunit;

namespace SingLoRA.Tests.SpamFilter;

/// <summary>
/// The sample's path for a user's own texts, run in-process on the real model and a small three-class data set made from the
/// real corpus (easy ham, hard ham, spam): export to CSV, train, save the best checkpoint, predict.
/// </summary>
public class TextClassifierTests
{
    private static (int Code, string Console, string Output) Run(string[] args, string? stdin = null)
    {
        var (console, text) = SpamFilterSmokeTests.CaptureConsole();
        var output = new StringWriter();
        int code = global::SpamFilter.SpamFilterApp.Run(args, console, new StringReader(stdin ?? ""), output);
        return (code, text.ToString(), output.ToString());
    }

    private static string NewDir() => Path.Combine(Path.GetTempPath(), "singlora-textclassifier-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public void Three_classes_from_the_real_corpus_train_save_and_predict_the_same_test_scores()
    {
        var dir = NewDir();
        var csv = Path.Combine(dir, "spamassassin-3.csv");
        var export = Run(new[] { "export", "--cache", RealModelCache.Root, "--out", csv, "--classes", "3", "--per-class", "8" });
        Assert.True(export.Code == 0, export.Console);
        var data = TextDataSet.Load(csv, new DataFileOptions(SplitColumn: "split"));
        Assert.Equal(new[] { "easy-ham", "hard-ham", "spam" }, data.Labels);

        var outDir = Path.Combine(dir, "out");
        var train = Run(new[]
        {
            "train", "--data", csv, "--split-column", "split", "--cache", RealModelCache.Root, "--out", outDir,
            "--max-tokens", "16", "--steps", "4", "--batch", "8", "--eval-every", "2",
        });
        Assert.True(train.Code == 0, train.Console);
        Assert.Contains("3 classes", train.Console);
        Assert.Matches(@"step 2/4 \(epoch [0-9.]+\): training loss [0-9.]+, validation accuracy [0-9.]+ %: best so far, saved", train.Console);
        Assert.Contains("step 4/4", train.Console);
        foreach (var label in data.Labels) Assert.Matches($@"{label}\W+[01]\.\d{{3}}\W+[01]\.\d{{3}}\W+[01]\.\d{{3}}\W+2\W", train.Console);   // precision, recall, F1, 2 test texts
        var best = Path.Combine(outDir, "best");
        foreach (var file in new[] { "adapter_model.safetensors", "adapter_config.json", "labels.json" }) Assert.True(File.Exists(Path.Combine(best, file)), file);
        foreach (var png in new[] { "loss-curves.png", "confusion-matrix.png", "validation-accuracy.png" }) Assert.True(new FileInfo(Path.Combine(outDir, png)).Length > 1000, png);
        double reported = double.Parse(Regex.Match(train.Console, @"accuracy ([0-9.]+) %, macro F1").Groups[1].Value, CultureInfo.InvariantCulture);

        // predict reloads the best checkpoint onto a plain pretrained model: on the test split it scores what train reported.
        var testCsv = Path.Combine(dir, "test.csv");
        File.WriteAllLines(testCsv, new[] { "text" }.Concat(data.Test.Select(r => Csv.Escape(r.Text))));
        var predict = Run(new[] { "predict", "--adapters", best, "--input", testCsv, "--cache", RealModelCache.Root });
        Assert.True(predict.Code == 0, predict.Console);
        var lines = predict.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(data.Test.Count, lines.Length);
        var predicted = lines.Select(l => l.Split('\t')).ToList();
        Assert.All(predicted, p => Assert.Contains(p[0], data.Labels));
        Assert.All(predicted, p => Assert.InRange(double.Parse(p[1], CultureInfo.InvariantCulture), 1.0 / 3, 1.0));
        double accuracy = 100.0 * predicted.Zip(data.Test).Count(x => x.First[0] == x.Second.Label) / data.Test.Count;
        Assert.Equal(reported, Math.Round(accuracy, 1));

        // Lines on standard input give the same predictions as the file.
        var stdin = string.Join("\n", data.Test.Take(3).Select(r => r.Text.Replace('\n', ' ').Replace('\r', ' ')));
        var piped = Run(new[] { "predict", "--adapters", best, "--cache", RealModelCache.Root }, stdin);
        Assert.True(piped.Code == 0, piped.Console);
        // (A line break and a space are the same to the tokenizer: both separate words.)
        Assert.Equal(predicted.Take(3).Select(p => p[0]), piped.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')[0]));

        // Another label set is refused, naming both.
        var other = Run(new[] { "predict", "--adapters", best, "--labels", "ham,spam", "--cache", RealModelCache.Root }, "hello");
        Assert.Equal(1, other.Code);
        Assert.Contains("saved for the labels [easy-ham, hard-ham, spam], not [ham, spam]", other.Console);
        Assert.Equal("", other.Output);

        // A labels.json from another save is refused too.
        var labelsPath = Path.Combine(best, "labels.json");
        File.WriteAllText(labelsPath, File.ReadAllText(labelsPath).Replace("\"weights_sha256\": \"", "\"weights_sha256\": \"00", StringComparison.Ordinal));
        var stale = Run(new[] { "predict", "--adapters", best, "--cache", RealModelCache.Root }, "hello");
        Assert.Equal(1, stale.Code);
        Assert.Contains("belongs to another save", stale.Console);
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void Patience_stops_the_run_when_validation_accuracy_stops_improving()
    {
        var dir = NewDir();
        var csv = Path.Combine(dir, "spamassassin-2.csv");
        Assert.Equal(0, Run(new[] { "export", "--cache", RealModelCache.Root, "--out", csv, "--classes", "2", "--per-class", "4" }).Code);
        // Learning rates 0 and no ramp: the model does not change, so the second evaluation cannot improve on the first.
        var train = Run(new[]
        {
            "train", "--data", csv, "--split-column", "split", "--cache", RealModelCache.Root, "--out", Path.Combine(dir, "out"),
            "--max-tokens", "8", "--steps", "20", "--batch", "4", "--eval-every", "1", "--patience", "1", "--lr", "0", "--head-lr", "0", "--ramp-steps", "0",
        });
        Assert.True(train.Code == 0, train.Console);
        Assert.Contains("step 2/20", train.Console);
        Assert.DoesNotContain("step 3/20", train.Console);
        Assert.Contains("Stopped early: no improvement in 1 evaluation (--patience 1)", train.Console);
        Assert.Contains("best checkpoint (step 1,", train.Console);
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void Bad_data_is_refused_with_file_and_line_before_any_training()
    {
        var dir = NewDir();
        Directory.CreateDirectory(dir);
        var csv = Path.Combine(dir, "tickets.csv");
        File.WriteAllText(csv, "text,label\nprinter broken,it\nrefund,billing\nvpn down,it\nwifi,it\n");
        var outDir = Path.Combine(dir, "out");
        var train = Run(new[] { "train", "--data", csv, "--out", outDir, "--cache", RealModelCache.Root });
        Assert.Equal(1, train.Code);
        Assert.Contains(csv, train.Console);
        Assert.Contains("line 3: label 'billing' is seen only once", train.Console);
        Assert.False(Directory.Exists(outDir));

        var help = Run(new[] { "train", "--help" });
        foreach (var option in new[] { "--data", "--text-column", "--label-column", "--split-column", "--eval-every", "--patience" }) Assert.Contains(option, help.Console);
        Assert.Equal(2, Run(new[] { "classify" }).Code);
        Directory.Delete(dir, recursive: true);
    }
}
