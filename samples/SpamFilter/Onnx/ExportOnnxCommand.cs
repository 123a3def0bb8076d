using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Microsoft.ML.OnnxRuntime;
using OnnxSpamFilter;
using SingLoRA.AdapterFiles;
using SingLoRA.Samples;
using SpamFilter.Data;
using SpamFilter.MiniLM;
using Spectre.Console;
using static TorchSharp.torch;

namespace SpamFilter.Onnx;

/// <summary>
/// <c>export-onnx</c>: a classifier folder written by <c>train</c> to an ONNX model with the adapters merged (TorchSharp side),
/// optionally checked against TorchSharp on the whole SpamAssassin test split.
/// </summary>
public static class ExportOnnxCommand
{
    /// <summary>Where <c>export-onnx</c> writes and <c>predict-onnx</c> reads by default.</summary>
    public const string DefaultOut = "artifacts/onnx-classifier";

    private sealed record Options(string Adapters, string Out, string Cache, bool Check, int Batch, int Threads);

    /// <summary>The <c>export-onnx</c> command.</summary>
    public static int Run(CommandLine cl, IAnsiConsole console)
    {
        if (!TextCommands.TryReadOptions(cl, console, "export-onnx", "SpamFilter export-onnx: write a classifier saved by `train` as an ONNX model (adapters merged into the weights, mean pooling and the head appended) with its vocabulary and labels, for ONNX Runtime alone (`predict-onnx`, samples/OnnxSpamFilter).", () =>
        {
            var adapters = cl.String("adapters", "artifacts/textclassifier/best", "the folder `train` wrote (adapters, head, labels.json)");
            var outDir = cl.String("out", DefaultOut, "the folder to write: model.onnx, vocab.txt, labels.json (files replaced only when all are written)");
            var cache = cl.String("cache", "artifacts/cache", "folder of the converted checkpoint (and the npm tarball for --check)");
            bool check = cl.Flag("check", "run TorchSharp and ONNX Runtime on the whole SpamAssassin test split: max |logit difference|, agreeing predictions, accuracy both ways");
            var batch = cl.Int("batch", 32, "texts per forward pass in --check");
            var threads = cl.Int("threads", 0, "torch CPU threads (0: one per core)");
            if (batch < 1) throw new ArgumentException("--batch must be at least 1.");
            return new Options(adapters, outDir, cache, check, batch, threads);
        }, out var options, out int exit)) return exit;
        if (options.Threads > 0) set_num_threads(options.Threads);
        var watch = Stopwatch.StartNew();
        OnnxExportResult result;
        try
        {
            var checkpoint = OnnxCheckpoint.Ensure(Path.Combine(options.Cache, "minilm"), m => console.MarkupLineInterpolated($"[grey]{m}[/]"));
            result = OnnxExport.ExportFolder(options.Adapters, checkpoint, options.Out, check: true);
        }
        catch (Exception e) when (e is InvalidOperationException or InvalidDataException or FileNotFoundException or AdapterLoadException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            console.MarkupLineInterpolated($"[red]Cannot export {options.Adapters}: {e.Message}[/]");
            return 1;
        }
        long folderBytes = Directory.EnumerateFiles(result.Directory).Sum(f => new FileInfo(f).Length);
        console.MarkupLineInterpolated($"Wrote [bold]{result.Directory}[/] in {watch.Elapsed.TotalSeconds:0} s: {OnnxTextClassifier.ModelFile} ({result.ModelBytes / 1e6:0.0} MB, {result.Weights} encoder weights merged, logits for {string.Join(", ", result.Labels)}), {OnnxTextClassifier.VocabularyFile}, {LabelSet.FileName}; {folderBytes / 1e6:0.0} MB in all. ONNX Runtime matches TorchSharp on two texts within {result.CheckDifference:0.0e+0}.");
        console.WriteLine($"Label texts with ONNX Runtime only: {SpamFilterApp.CommandPrefix} predict-onnx --model {result.Directory} --input texts.txt");
        console.WriteLine($"  or, without TorchSharp at all: dotnet run --project samples/OnnxSpamFilter -c Release -- --model {result.Directory} --input texts.txt");
        return options.Check ? CheckTestSplit(options, console) : 0;
    }

    /// <summary>TorchSharp (the adapters unmerged, as <c>predict</c> runs them) and ONNX Runtime on every test e-mail of SpamAssassin.</summary>
    private static int CheckTestSplit(Options options, IAnsiConsole console)
    {
        var labels = LabelSet.Read(options.Adapters);
        var data = TextCommands.SpamAssassinTexts(options.Cache, console);
        var test = data.Test;
        var checkpoint = OnnxCheckpoint.Ensure(Path.Combine(options.Cache, "minilm"));
        using var onnx = OnnxTextClassifier.Load(options.Out);
        var tokens = test.Select(r => onnx.Tokenizer.Encode(r.Text, labels.MaxTokens)).ToList();
        int classes = labels.Labels.Count;

        var watch = Stopwatch.StartNew();
        var torchLogits = new List<float>();
        using (var model = TextClassifierModel.FromFolder(checkpoint, classes, options.Adapters))
            for (int start = 0; start < tokens.Count; start += options.Batch)
                torchLogits.AddRange(OnnxExport.Logits(model, onnx.Tokenizer, tokens.Skip(start).Take(options.Batch).ToList()));
        double torchSeconds = watch.Elapsed.TotalSeconds;
        watch.Restart();
        var onnxLogits = new List<float>();
        for (int start = 0; start < tokens.Count; start += options.Batch)
            onnxLogits.AddRange(onnx.Logits(tokens.Skip(start).Take(options.Batch).ToList()));
        double onnxSeconds = watch.Elapsed.TotalSeconds;

        double maxDifference = torchLogits.Zip(onnxLogits).Max(p => Math.Abs(p.First - p.Second));
        double largest = torchLogits.Max(x => Math.Abs(x));
        int[] Argmax(List<float> logits) => Enumerable.Range(0, tokens.Count).Select(i => Enumerable.Range(0, classes).MaxBy(c => logits[i * classes + c])).ToArray();
        var torchClass = Argmax(torchLogits);
        var onnxClass = Argmax(onnxLogits);
        int agree = torchClass.Zip(onnxClass).Count(p => p.First == p.Second);
        console.MarkupLineInterpolated($"Check on the SpamAssassin test split ({test.Count:N0} e-mails, {labels.MaxTokens} tokens each at most, batches of {options.Batch}): max |logit difference| [bold]{maxDifference:0.00e+0}[/] (largest |logit| {largest:0.00}, relative {maxDifference / largest:0.0e+0}); predictions agree on [bold]{agree:N0} of {test.Count:N0}[/]. TorchSharp {torchSeconds:0.0} s, ONNX Runtime {onnxSeconds:0.0} s.");
        var truth = test.Select(r => labels.Labels.ToList().IndexOf(r.Label)).ToArray();
        if (truth.All(t => t >= 0))
            console.MarkupLineInterpolated($"Test accuracy: TorchSharp {torchClass.Zip(truth).Count(p => p.First == p.Second) / (double)test.Count:P2}, ONNX Runtime {onnxClass.Zip(truth).Count(p => p.First == p.Second) / (double)test.Count:P2}.");
        else
            console.MarkupLineInterpolated($"[grey]No accuracy: the classifier's labels ({string.Join(", ", labels.Labels)}) are not SpamAssassin's spam / ham.[/]");
        // A batch-of-one timing on the first e-mails, for the record.
        const int Timed = 100;
        onnx.Logits(tokens.Take(1).ToList());
        watch.Restart();
        foreach (var t in tokens.Take(Timed)) onnx.Logits(new[] { t });
        console.MarkupLineInterpolated($"ONNX Runtime, batch of 1: {watch.Elapsed.TotalMilliseconds / Math.Min(Timed, tokens.Count):0.0} ms per e-mail (the first {Math.Min(Timed, tokens.Count)} test e-mails, {tokens.Take(Timed).Average(t => t.Length):0} tokens on average).");
        if (!(maxDifference <= OnnxExport.Tolerance))
        {
            console.MarkupLineInterpolated($"[red]ONNX Runtime and TorchSharp differ by more than {OnnxExport.Tolerance:0e+0}: the export is wrong.[/]");
            return 1;
        }
        return 0;
    }
}
