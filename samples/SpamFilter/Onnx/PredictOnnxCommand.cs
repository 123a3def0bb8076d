using System;
using System.IO;
using System.Linq;
using Microsoft.ML.OnnxRuntime;
using OnnxSpamFilter;
using SingLoRA.Samples;
using SpamFilter.Data;
using Spectre.Console;

namespace SpamFilter.Onnx;

/// <summary>
/// <c>predict-onnx</c>: labels texts with an exported folder through ONNX Runtime only. Nothing on this path touches
/// TorchSharp, so it runs without libtorch (<see cref="Program.Main"/> dispatches it before configuring libtorch).
/// </summary>
public static class PredictOnnxCommand
{
    private sealed record Options(string Model, string Input, string TextColumn, int Batch, int Threads);

    /// <summary>The <c>predict-onnx</c> command: one line per text, <c>label TAB probability TAB text</c>, on <paramref name="output"/> (as <c>predict</c>).</summary>
    public static int Run(CommandLine cl, IAnsiConsole console, TextReader input, TextWriter output)
    {
        if (!TextCommands.TryReadOptions(cl, console, "predict-onnx", "SpamFilter predict-onnx: label new texts with a folder written by `export-onnx`, through ONNX Runtime only (no TorchSharp, no libtorch); prints label, probability and the text's start, tab-separated, one line per text.", () =>
        {
            var model = cl.String("model", ExportOnnxCommand.DefaultOut, "the folder `export-onnx` wrote (model.onnx, vocab.txt, labels.json)");
            var inputPath = cl.String("input", "", "texts to label: a text file (one per line), a CSV file with a header row, or a .jsonl file; empty: lines on standard input");
            var textColumn = cl.String("text-column", "text", "the column (CSV) or field (JSON Lines) holding the text");
            var batch = cl.Int("batch", 32, "texts per ONNX Runtime call");
            var threads = cl.Int("threads", 0, "ONNX Runtime intra-op threads (0: one per core)");
            if (batch < 1 || threads < 0) throw new ArgumentException("--batch must be at least 1 and --threads at least 0.");
            return new Options(model, inputPath, textColumn, batch, threads);
        }, out var options, out int exit)) return exit;
        try
        {
            var texts = TextCommands.ReadTexts(options.Input, options.TextColumn, input);
            using var sessionOptions = new SessionOptions { IntraOpNumThreads = options.Threads };
            using var classifier = OnnxTextClassifier.Load(options.Model, sessionOptions);
            if (texts.Count == 0)
            {
                console.MarkupLine("[yellow]No texts to label (the input is empty).[/]");
                return 0;
            }
            foreach (var (text, prediction) in texts.Zip(classifier.Predict(texts, options.Batch)))
                output.WriteLine(PredictionText.Line(prediction.Label, prediction.Probability, text));
            output.Flush();
            return 0;
        }
        catch (Exception e) when (e is DataFileException or InvalidDataException or FileNotFoundException)
        {
            console.MarkupLineInterpolated($"[red]{e.Message}[/]");
            return 1;
        }
    }
}
