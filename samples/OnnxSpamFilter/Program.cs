using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.OnnxRuntime;

namespace OnnxSpamFilter;

/// <summary>
/// Labels texts with a classifier folder written by <c>SpamFilter export-onnx</c>, with ONNX Runtime only:
/// <c>OnnxSpamFilter [--model DIR] [--input FILE] [--batch N] [--threads N]</c>. Texts: one per line of the file, or of
/// standard input without <c>--input</c>. Output: one line per text, <c>label TAB probability TAB text start</c>, as
/// <c>SpamFilter predict</c> prints it.
/// </summary>
public static class Program
{
    private const string DefaultModel = "artifacts/onnx-classifier";

    private const string Usage = """
        OnnxSpamFilter: label texts with a classifier exported by `SpamFilter export-onnx` (ONNX Runtime only, no TorchSharp);
        prints label, probability and the text's start, tab-separated, one line per text.

        Usage: OnnxSpamFilter [options]

        Options:
          --model    the folder export-onnx wrote (model.onnx, vocab.txt, labels.json) [default: artifacts/onnx-classifier]
          --input    texts to label, one per line; empty: standard input [default: ]
          --batch    texts per ONNX Runtime call [default: 32]
          --threads  ONNX Runtime intra-op threads (0: one per core) [default: 0]
          --help     this text
        """;

    /// <summary>Runs the app on the console; returns 0, 1 (a file is missing or bad) or 2 (a bad option).</summary>
    public static int Main(string[] args) => Run(args, Console.In, Console.Out, Console.Error);

    /// <summary>
    /// Runs the app: texts from <paramref name="input"/> without <c>--input</c>, predictions to <paramref name="output"/>, messages
    /// to <paramref name="error"/>. Returns 0, 1 (a file is missing or bad) or 2 (a bad option).
    /// </summary>
    public static int Run(string[] args, TextReader input, TextWriter output, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var values = new Dictionary<string, string>(StringComparer.Ordinal) { ["model"] = DefaultModel, ["input"] = "", ["batch"] = "32", ["threads"] = "0" };
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] is "--help" or "-h")
            {
                output.WriteLine(Usage);
                return 0;
            }
            string name = args[i].StartsWith("--", StringComparison.Ordinal) ? args[i][2..] : "";
            if (!values.ContainsKey(name) || i + 1 >= args.Length)
            {
                error.WriteLine($"{(values.ContainsKey(name) ? $"--{name} needs a value" : $"Unknown argument '{args[i]}'")}. Known: --model, --input, --batch, --threads, --help.");
                return 2;
            }
            values[name] = args[++i];
        }
        if (!int.TryParse(values["batch"], NumberStyles.None, CultureInfo.InvariantCulture, out int batch) || batch < 1
            || !int.TryParse(values["threads"], NumberStyles.None, CultureInfo.InvariantCulture, out int threads))
        {
            error.WriteLine($"--batch must be a whole number of at least 1 (got '{values["batch"]}') and --threads a whole number (got '{values["threads"]}').");
            return 2;
        }
        try
        {
            IReadOnlyList<string> texts;
            if (values["input"].Length == 0) texts = PredictionText.ReadLines(input);
            else if (File.Exists(values["input"]))
                using (var reader = new StreamReader(values["input"])) texts = PredictionText.ReadLines(reader);
            else throw new InvalidDataException($"The input file {values["input"]} does not exist (--input).");
            using var options = new SessionOptions { IntraOpNumThreads = threads };
            using var classifier = OnnxTextClassifier.Load(values["model"], options);
            foreach (var (text, prediction) in texts.Zip(classifier.Predict(texts, batch)))
                output.WriteLine(PredictionText.Line(prediction.Label, prediction.Probability, text));
            output.Flush();
            return 0;
        }
        catch (InvalidDataException e)
        {
            error.WriteLine(e.Message);
            return 1;
        }
    }
}
