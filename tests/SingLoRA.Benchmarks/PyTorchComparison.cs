using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SingLoRA.AdapterFiles;
using SingLoRA.Benchmarks.Harness;
using SpamFilter;
using SpamFilter.MiniLM;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA.Benchmarks;

/// <summary>
/// TorchSharp against PyTorch on the same work (issue 20, item 3): the SpamFilter classifier (all-MiniLM-L6-v2, mean
/// pooling, a linear head) fine-tuned with SingLoRA r8 and with LoRA r8 on query, key and value, one AdamW step of a batch
/// of token sequences; and the merged model classifying one e-mail. The PyTorch side is <c>python/bench_twin.py</c>
/// (the twin <c>python/minilm_twin.py</c>, the same checkpoint and the same batch), a worker process driven over its
/// standard input, so the two sides alternate round after round on the same cores and thread count. Each round times
/// every operation once on each side (the order turned every round); a ratio is the median of the per-round ratios,
/// with the quartiles.
/// </summary>
public static class PyTorchComparison
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private static readonly Options Defaults = new();

    /// <summary>What to measure.</summary>
    /// <param name="Threads">Torch threads on both sides.</param>
    /// <param name="Rounds">Rounds of the interleaved measurement.</param>
    /// <param name="Batch">Sequences per training step.</param>
    /// <param name="Tokens">Tokens per sequence (no padding).</param>
    /// <param name="OnnxModel">A folder written by the SpamFilter's <c>export-onnx</c> (the merged classifier) to time in ONNX Runtime as well, or null.</param>
    public sealed record Options(int Threads = 1, int Rounds = 12, int Batch = 16, int Tokens = 128, int Rank = 8, double StepSeconds = 1.0, double InferSeconds = 0.5, string? OnnxModel = null, string? Report = null)
    {
        /// <summary>Reads <c>--threads N --rounds N --batch N --tokens N --rank N --step-seconds S --infer-seconds S --onnx FOLDER --report FILE</c> after the mode's name (args[0]).</summary>
        public static Options Parse(IReadOnlyList<string> args)
        {
            var o = new Options();
            for (int i = 1; i < args.Count; i++)
            {
                string name = args[i];
                if (i + 1 >= args.Count) throw new ArgumentException($"--pytorch: {name} needs a value.");
                string value = args[++i];
                int Whole() => int.TryParse(value, NumberStyles.Integer, Inv, out int v) && v >= 1 ? v : throw new ArgumentException($"--pytorch: {name} takes a whole number of at least 1, not '{value}'.");
                double Seconds() => double.TryParse(value, NumberStyles.Float, Inv, out double v) && v > 0 && double.IsFinite(v) ? v : throw new ArgumentException($"--pytorch: {name} takes a positive number of seconds, not '{value}'.");
                int Tokens()
                {
                    int t = Whole();
                    try { BertConfig.MiniLML6.CheckMaxTokens(t, "--tokens"); }
                    catch (ArgumentException e) { throw new ArgumentException("--pytorch: " + e.Message, e); }
                    return t;
                }
                o = name switch
                {
                    "--threads" => o with { Threads = Whole() },
                    "--rounds" => o with { Rounds = Whole() },
                    "--batch" => o with { Batch = Whole() },
                    "--tokens" => o with { Tokens = Tokens() },
                    "--rank" => o with { Rank = Whole() },
                    "--step-seconds" => o with { StepSeconds = Seconds() },
                    "--infer-seconds" => o with { InferSeconds = Seconds() },
                    "--onnx" => File.Exists(Path.Combine(value, OnnxSpamFilter.OnnxTextClassifier.ModelFile)) ? o with { OnnxModel = value }
                        : throw new ArgumentException($"--pytorch: --onnx {value} is not a folder holding {OnnxSpamFilter.OnnxTextClassifier.ModelFile}; write one with `dotnet run --project samples/SpamFilter -c Release -- export-onnx`."),
                    "--report" => o with { Report = value },
                    _ => throw new ArgumentException($"--pytorch: unknown option '{name}' (use --threads, --rounds, --batch, --tokens, --rank, --step-seconds, --infer-seconds, --onnx, --report)."),
                };
            }
            return o;
        }
    }

    /// <summary>One operation timed on both sides: the per-call medians and the TorchSharp / PyTorch ratio with its quartiles.</summary>
    public sealed record Row(string Operation, long TrainableTorchSharp, long TrainablePyTorch, double TorchSharpMs, double PyTorchMs, double Ratio, double RatioLow, double RatioHigh);

    /// <summary>The measurement: the rows, the largest logit difference of the plain model between the two sides, and the versions.</summary>
    public sealed record Result(IReadOnlyList<Row> Rows, double PlainLogitDifference, string TorchVersion, string Machine, Options Options);

    /// <summary>Measures, writes <paramref name="report"/> (markdown) and returns the result.</summary>
    public static Result Run(Options o, string report, TextWriter log)
    {
        set_num_threads(o.Threads);
        string root = Reports.RepoRoot();
        string checkpoint = OnnxCheckpoint.Ensure(Path.Combine(root, "artifacts", "cache", "minilm"), log.WriteLine);
        string work = Directory.CreateTempSubdirectory("singlora-vs-pytorch-").FullName;
        try
        {
            // The same batch for both sides: random token ids (the time does not depend on their values), no padding.
            string batchFile = Path.Combine(work, "batch.safetensors");
            using (var scope = NewDisposeScope())
            {
                var g = new torch.Generator(1234);
                var ids = randint(1000, 29000, new long[] { o.Batch, o.Tokens }, dtype: ScalarType.Int64, generator: g);
                ids[TensorIndex.Colon, 0] = tensor(101L); // [CLS]
                ids[TensorIndex.Colon, -1] = tensor(102L); // [SEP]
                var one = ids.narrow(0, 0, 1).clone();
                SafeTensors.Save(batchFile, new Dictionary<string, Tensor>
                {
                    ["input_ids"] = ids, ["attention_mask"] = ones_like(ids), ["labels"] = randint(0, 2, new long[] { o.Batch }, dtype: ScalarType.Int64, generator: g),
                    ["one_ids"] = one, ["one_mask"] = ones_like(one),
                });
            }
            using var loaded = SafeTensors.Load(batchFile);
            var batch = loaded.Tensors;
            using var py = new Worker(Path.Combine(root, "python"), o.Threads, log);
            var setup = py.Call(new JsonObject { ["cmd"] = "setup", ["threads"] = o.Threads, ["checkpoint"] = checkpoint, ["batch"] = batchFile });
            string torchVersion = (string)setup["torch"]!;
            log.WriteLine($"PyTorch {torchVersion} ({(int)setup["threads"]!} threads) against TorchSharp {typeof(torch).Assembly.GetName().Version} ({get_num_threads()} threads)");

            var adapters = new AdapterSettings(o.Rank, o.Rank, RampLength: 100, LoRAAlpha: o.Rank, Layers: Array.Empty<int>());
            var sides = new List<Side>();
            try
            {
                // The two sides compute the same function: the plain model's logits agree.
                var plain = Side.Build("plain", Method.HeadOnly, adapters, checkpoint, batch, py, o, train: false);
                sides.Add(plain);
                double plainDiff = plain.LogitDifference(py);
                log.WriteLine($"plain model, max |logit difference| TorchSharp - PyTorch: {plainDiff:0.0e+0}");

                var singlora = Side.Build("singlora", Method.SingLoRA, adapters, checkpoint, batch, py, o, train: true);
                var lora = Side.Build("lora", Method.LoRA, adapters, checkpoint, batch, py, o, train: true);
                var merged = Side.Build("merged", Method.SingLoRA, adapters, checkpoint, batch, py, o, train: false, merge: true);
                sides.AddRange(new[] { singlora, lora, merged });

                var ops = new List<Op>
                {
                    Op.Of($"training step, SingLoRA r{o.Rank} on q/k/v + head (batch {o.Batch} x {o.Tokens} tokens, AdamW), TorchSharp", singlora, train: true),
                    Op.Of($"training step, LoRA r{o.Rank} on q/k/v + head (same batch), TorchSharp", lora, train: true),
                    Op.Of($"inference, one e-mail ({o.Tokens} tokens), merged SingLoRA model, TorchSharp", merged, train: false),
                    Op.Of($"inference, one e-mail ({o.Tokens} tokens), plain pretrained model, TorchSharp", plain, train: false),
                };
                using var onnx = o.OnnxModel is null ? null : new OnnxRunner(o.OnnxModel, o.Threads, batch);
                if (onnx is not null)
                    ops.Add(new Op($"inference, one e-mail ({o.Tokens} tokens), merged model, ONNX Runtime (the OnnxSpamFilter classifier)", false, 0, 0,
                        (calls, pyFirst) =>
                        {
                            double pt = pyFirst ? merged.PyTorchMs(false, calls) : 0;
                            double ours = onnx.Ms(calls);
                            if (!pyFirst) pt = merged.PyTorchMs(false, calls);
                            return (ours, pt);
                        }));
                var rows = Measure(ops, o, log);

                var result = new Result(rows, plainDiff, torchVersion, Reports.Machine(), o);
                Write(result, report, log);
                return result;
            }
            finally
            {
                foreach (var s in sides) s.Dispose();
            }
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>One operation: <see cref="Time"/> runs it <c>calls</c> times on each side (PyTorch first when asked) and gives milliseconds per call.</summary>
    private sealed record Op(string Name, bool Train, long TrainableOurs, long TrainablePyTorch, Func<int, bool, (double Ours, double PyTorch)> Time)
    {
        public static Op Of(string name, Side side, bool train) =>
            new(name, train, side.TrainableTorchSharp, side.TrainablePyTorch, (calls, pyFirst) => side.Time(train, calls, pyFirst));
    }

    // Calls per measurement so that one takes about the configured time (at least one), decided once from a warm-up;
    // then rounds: each operation once on each side, the order of the sides alternating and the operations rotated.
    private static List<Row> Measure(IReadOnlyList<Op> ops, Options o, TextWriter log)
    {
        var calls = new int[ops.Count];
        for (int i = 0; i < ops.Count; i++)
        {
            var op = ops[i];
            op.Time(1, false); op.Time(1, true); // warm-up, both sides
            var (ts, pt) = op.Time(1, false);
            calls[i] = Math.Max(1, (int)Math.Round((op.Train ? o.StepSeconds : o.InferSeconds) * 1000 / Math.Max(ts, pt)));
        }
        var tsMs = ops.Select(_ => new List<double>()).ToArray();
        var ptMs = ops.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < o.Rounds; r++)
        {
            for (int j = 0; j < ops.Count; j++)
            {
                int i = (j + r) % ops.Count;
                var (ts, pt) = ops[i].Time(calls[i], (r + j) % 2 == 1);
                tsMs[i].Add(ts);
                ptMs[i].Add(pt);
            }
            log.WriteLine($"round {r + 1}/{o.Rounds}: " + string.Join("; ", ops.Select((op, i) => $"{tsMs[i][^1]:0.0} / {ptMs[i][^1]:0.0} ms")));
        }
        return ops.Select((op, i) =>
        {
            var ratios = tsMs[i].Zip(ptMs[i], (a, b) => a / b).OrderBy(x => x).ToArray();
            return new Row(op.Name, op.TrainableOurs, op.TrainablePyTorch, Interleaved.Median(tsMs[i]), Interleaved.Median(ptMs[i]), Interleaved.Percentile(ratios, 0.5), Interleaved.Percentile(ratios, 0.25), Interleaved.Percentile(ratios, 0.75));
        }).ToList();
    }

    /// <summary>
    /// An exported classifier folder (<c>export-onnx</c>) run as the shipped app runs it, through <see cref="OnnxSpamFilter.OnnxTextClassifier"/>
    /// (ONNX Runtime in this process), on the one-e-mail input.
    /// </summary>
    private sealed class OnnxRunner : IDisposable
    {
        private readonly OnnxSpamFilter.OnnxTextClassifier _classifier;
        private readonly long[][] _one;

        public OnnxRunner(string folder, int threads, IReadOnlyDictionary<string, Tensor> batch)
        {
            _classifier = OnnxSpamFilter.OnnxTextClassifier.Load(folder, new Microsoft.ML.OnnxRuntime.SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1 });
            _one = new[] { batch["one_ids"].data<long>().ToArray() };
        }

        public double Ms(int calls)
        {
            var sw = Stopwatch.StartNew();
            for (int c = 0; c < calls; c++) _classifier.Logits(_one);
            return sw.Elapsed.TotalMilliseconds / calls;
        }

        public void Dispose() => _classifier.Dispose();
    }

    private static void Write(Result r, string report, TextWriter log)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# TorchSharp against PyTorch on the same fine-tuning step");
        sb.AppendLine();
        sb.AppendLine($"<!-- {r.Machine} -->");
        sb.AppendLine($"Written by `dotnet tests/SingLoRA.Benchmarks/bin/Release/net10.0/SingLoRA.Benchmarks.dll --pytorch --threads {r.Options.Threads} --rounds {r.Options.Rounds} --batch {r.Options.Batch} --tokens {r.Options.Tokens} --rank {r.Options.Rank}{(r.Options.StepSeconds == Defaults.StepSeconds ? "" : " --step-seconds " + r.Options.StepSeconds.ToString(Inv))}{(r.Options.InferSeconds == Defaults.InferSeconds ? "" : " --infer-seconds " + r.Options.InferSeconds.ToString(Inv))}{(r.Options.OnnxModel is null ? "" : " --onnx " + r.Options.OnnxModel)}` (docs/performance.md explains it).");
        sb.AppendLine();
        sb.AppendLine($"- Machine: {r.Machine}.");
        sb.AppendLine($"- TorchSharp {typeof(torch).Assembly.GetName().Version} on its libtorch (`libtorch-cpu-linux-x64` package), against PyTorch {r.TorchVersion} (`/usr/bin/python3`, Debian's `python3-torch`); {r.Options.Threads} torch thread(s) on both sides.");
        sb.AppendLine($"- The same model (all-MiniLM-L6-v2 from the same converted checkpoint, mean pooling, a linear head; C# `SpamClassifier` and `python/minilm_twin.py`), the same batch, the same optimizer settings (AdamW, adapters lr 1e-3, head lr 3e-3). The plain model's logits agree between the sides within {r.PlainLogitDifference:0.0e+0}.");
        sb.AppendLine($"- {r.Options.Rounds} rounds; in each, every operation runs once on each side (the order of the sides alternates, the operations rotate). Times are medians per call; the ratio is .NET / PyTorch, the median of the per-round ratios, with the 25th and 75th percentiles.");
        sb.AppendLine();
        sb.AppendLine("| operation, and the .NET side | trainable values (.NET / PyTorch) | .NET ms | PyTorch ms | .NET / PyTorch (quartiles) |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: |");
        foreach (var row in r.Rows)
            sb.AppendLine($"| {row.Operation} | {row.TrainableTorchSharp:N0} / {row.TrainablePyTorch:N0} | {row.TorchSharpMs.ToString("0.0", Inv)} | {row.PyTorchMs.ToString("0.0", Inv)} | {row.Ratio.ToString("0.00", Inv)} ({row.RatioLow.ToString("0.00", Inv)}-{row.RatioHigh.ToString("0.00", Inv)}) |");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(report))!);
        File.WriteAllText(report, sb.ToString());
        log.WriteLine(sb.ToString());
        log.WriteLine($"written {report}");
    }

    /// <summary>One configuration on both sides: the TorchSharp classifier (with its optimizer when it trains) and the PyTorch worker's copy.</summary>
    private sealed class Side : IDisposable
    {
        private readonly string _name;
        private readonly SpamClassifier _model;
        private readonly optim.Optimizer? _optimizer;
        private readonly IReadOnlyDictionary<string, Tensor> _batch;
        private readonly Worker _py;

        private Side(string name, SpamClassifier model, optim.Optimizer? optimizer, IReadOnlyDictionary<string, Tensor> batch, Worker py, long trainable, long trainablePy)
        {
            _name = name; _model = model; _optimizer = optimizer; _batch = batch; _py = py;
            TrainableTorchSharp = trainable; TrainablePyTorch = trainablePy;
        }

        public long TrainableTorchSharp { get; }
        public long TrainablePyTorch { get; }

        public static Side Build(string name, Method method, AdapterSettings adapters, string checkpoint, IReadOnlyDictionary<string, Tensor> batch, Worker py, Options o, bool train, bool merge = false)
        {
            manual_seed(0);
            var (model, encoderParams, head) = adapters.Build(method, checkpoint);
            optim.Optimizer? optimizer = null;
            long trainable = 0;
            if (train)
            {
                optimizer = optim.AdamW(new List<AdamW.ParamGroup> { new(encoderParams, lr: 1e-3), new(head, lr: 3e-3) }, lr: 1e-3);
                trainable = encoderParams.Concat(head).Sum(p => p.numel());
            }
            else
            {
                foreach (var p in model.parameters()) p.requires_grad = false;
            }
            if (merge) model.MergeAdapters();
            string pyMethod = merge ? "merged" : method switch { Method.SingLoRA => "singlora", Method.LoRA => "lora", _ => "plain" };
            var reply = py.Call(new JsonObject { ["cmd"] = "build", ["name"] = name, ["method"] = pyMethod, ["rank"] = o.Rank, ["alpha"] = o.Rank, ["ramp"] = 100, ["lr"] = 1e-3, ["head_lr"] = 3e-3 });
            return new Side(name, model, optimizer, batch, py, trainable, train ? (long)reply["trainable"]! : 0);
        }

        /// <summary>Milliseconds per call on each side, for <paramref name="calls"/> calls.</summary>
        public (double TorchSharp, double PyTorch) Time(bool train, int calls, bool pyFirst = false)
        {
            double pt = 0, ts;
            if (pyFirst) pt = PyTorchMs(train, calls);
            ts = train ? TrainMs(calls) : InferMs(calls);
            if (!pyFirst) pt = PyTorchMs(train, calls);
            return (ts, pt);
        }

        public double PyTorchMs(bool train, int calls) =>
            (double)_py.Call(new JsonObject { ["cmd"] = train ? "train" : "infer", ["name"] = _name, [train ? "steps" : "calls"] = calls })["seconds"]! * 1000 / calls;

        // The step of FineTuning.Loop: forward in training mode, cross-entropy, backward, AdamW, the ramp advanced.
        private double TrainMs(int steps)
        {
            _model.train();
            var ids = _batch["input_ids"];
            var mask = _batch["attention_mask"];
            var labels = _batch["labels"];
            var sw = Stopwatch.StartNew();
            for (int s = 0; s < steps; s++)
            {
                using var scope = NewDisposeScope();
                _optimizer!.zero_grad();
                var loss = nn.functional.cross_entropy(_model.forward(ids, mask), labels);
                loss.backward();
                _optimizer.step();
                _model.AdvanceRamp();
            }
            return sw.Elapsed.TotalMilliseconds / steps;
        }

        private double InferMs(int calls)
        {
            _model.eval();
            using var _ = no_grad();
            var sw = Stopwatch.StartNew();
            for (int c = 0; c < calls; c++)
            {
                using var scope = NewDisposeScope();
                _model.forward(_batch["one_ids"], _batch["one_mask"]);
            }
            return sw.Elapsed.TotalMilliseconds / calls;
        }

        /// <summary>The largest |logit| difference between the sides on the one-e-mail input.</summary>
        public double LogitDifference(Worker py)
        {
            var reply = py.Call(new JsonObject { ["cmd"] = "logits", ["name"] = _name });
            var theirs = reply["logits"]!.AsArray().SelectMany(row => row!.AsArray().Select(v => (float)v!)).ToArray();
            _model.eval();
            using var _ = no_grad();
            using var logits = _model.forward(_batch["one_ids"], _batch["one_mask"]);
            var ours = logits.data<float>().ToArray();
            return ours.Zip(theirs, (a, b) => (double)Math.Abs(a - b)).Max();
        }

        public void Dispose()
        {
            _optimizer?.Dispose();
            _model.Dispose();
        }
    }

    /// <summary><c>python/bench_twin.py</c>, started once, one JSON request and one JSON reply per line.</summary>
    private sealed class Worker : IDisposable
    {
        private readonly Process _process;

        public Worker(string pythonFolder, int threads, TextWriter log)
        {
            string python = Environment.GetEnvironmentVariable("SINGLORA_PYTHON") ?? "/usr/bin/python3";
            var info = new ProcessStartInfo(python)
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
                WorkingDirectory = pythonFolder,
            };
            info.ArgumentList.Add(Path.Combine(pythonFolder, "bench_twin.py"));
            info.Environment["PYTHONPATH"] = pythonFolder;
            info.Environment["OMP_NUM_THREADS"] = threads.ToString(Inv);
            try
            {
                _process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {python}.");
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new InvalidOperationException($"--pytorch needs Python with torch at {python} (Debian: apt-get install python3-torch; or set SINGLORA_PYTHON): {e.Message}", e);
            }
            _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) log.WriteLine("python: " + e.Data); };
            _process.BeginErrorReadLine();
        }

        public JsonObject Call(JsonObject request)
        {
            _process.StandardInput.WriteLine(request.ToJsonString());
            _process.StandardInput.Flush();
            string? line = _process.StandardOutput.ReadLine();
            if (line is null)
            {
                _process.WaitForExit(5000);
                throw new InvalidOperationException($"python/bench_twin.py stopped (exit code {(_process.HasExited ? _process.ExitCode : -1)}) on {request.ToJsonString()}; its error output is above. Does /usr/bin/python3 have torch?");
            }
            var reply = JsonNode.Parse(line)!.AsObject();
            if (reply["ok"]?.GetValue<bool>() != true)
                throw new InvalidOperationException($"python/bench_twin.py refused {request.ToJsonString()}: {reply["error"]}");
            return reply;
        }

        public void Dispose()
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.StandardInput.WriteLine("{\"cmd\": \"quit\"}");
                    _process.StandardInput.Close();
                    if (!_process.WaitForExit(10_000)) _process.Kill();
                }
            }
            catch (InvalidOperationException) { }
            _process.Dispose();
        }
    }
}
