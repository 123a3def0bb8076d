using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using SingLoRA.Platform;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA.Benchmarks;

/// <summary>
/// <c>--device cuda</c> (or <c>cpu</c>): one layer's training step and inference at LLM sizes on a device, timed with a
/// device synchronisation before and after every timed call, variants interleaved call by call. The training step is
/// forward, MSE, backward (to the input, which requires grad as inside a network, and to the adapter), AdamW and the ramp
/// advance; the frozen base does the same without an optimizer. Writes a markdown report with the ratios the targets in
/// docs/performance.md are stated in.
/// </summary>
public static class DeviceBench
{
    /// <summary>Options: <c>--device</c>, <c>--report FILE</c>, <c>--tokens</c>, <c>--shapes</c>, <c>--ranks</c>, <c>--dtypes</c>, <c>--iters</c>, <c>--warmup</c>.</summary>
    public sealed record Options(string Device, string? Report, int Tokens, IReadOnlyList<Harness.LayerShape> Shapes, IReadOnlyList<int> Ranks,
        IReadOnlyList<ScalarType> Dtypes, int Iterations, int Warmup)
    {
        public static Options Parse(string[] args)
        {
            string Get(string name, string def)
            {
                int i = Array.IndexOf(args, "--" + name);
                return i >= 0 && i + 1 < args.Length ? args[i + 1] : def;
            }
            ScalarType Dtype(string s) => s switch
            {
                "bfloat16" or "bf16" => ScalarType.BFloat16,
                "float32" or "fp32" => ScalarType.Float32,
                "float16" or "fp16" => ScalarType.Float16,
                _ => throw new ArgumentException($"--dtypes: unknown dtype '{s}' (bfloat16, float32, float16)."),
            };
            string report = Get("report", "");
            return new Options(
                Get("device", "cuda"),
                report.Length == 0 ? null : report,
                int.Parse(Get("tokens", "8192"), CultureInfo.InvariantCulture),
                Get("shapes", "4096x4096,4096x11008,11008x4096").Split(',').Select(Harness.LayerShape.Parse).ToList(),
                Get("ranks", "8").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList(),
                Get("dtypes", "bfloat16,float32").Split(',').Select(Dtype).ToList(),
                int.Parse(Get("iters", "20"), CultureInfo.InvariantCulture),
                int.Parse(Get("warmup", "5"), CultureInfo.InvariantCulture));
        }
    }

    /// <summary>One measured row.</summary>
    public sealed record Row(string Shape, int Rank, ScalarType Dtype, string Phase, string Variant, double MedianMs, double MinMs, double P90Ms);

    /// <summary>Runs the benchmark; returns the rows and writes the report (to <see cref="Options.Report"/> or docs/benchmarks/device-DEVICE.md).</summary>
    public static IReadOnlyList<Row> Run(Options o, TextWriter log)
    {
        var device = o.Device switch
        {
            "cpu" => CPU,
            "cuda" when cuda.is_available() => CUDA,
            "cuda" => throw new InvalidOperationException("--device cuda: torch.cuda.is_available() is false (a CPU libtorch, or no GPU). See README, \"GPU\"."),
            _ => throw new ArgumentException($"--device must be cuda or cpu (got '{o.Device}')."),
        };
        var rows = new List<Row>();
        foreach (var dtype in o.Dtypes)
            foreach (var shape in o.Shapes)
            {
                // One frozen base per shape and dtype; every variant wraps a copy of the same W0 and sees the same batch.
                manual_seed(0);
                var w0 = randn(shape.Out, shape.In, device: device, dtype: dtype).mul_(1.0 / Math.Sqrt(shape.In));
                var x = randn(o.Tokens, shape.In, device: device, dtype: dtype);
                var target = randn(o.Tokens, shape.Out, device: device, dtype: dtype);
                Linear Fresh() => nn.Linear(w0.clone().AsParameter(), zeros(shape.Out, device: device, dtype: dtype).AsParameter());
                var train = new List<(string, Action, IDisposable)> { Frozen("base", Fresh(), x, target) };
                var infer = new List<(string, Action, IDisposable)> { Infer("base", Fresh(), x) };
                foreach (int rank in o.Ranks)
                {
                    foreach (var precision in new[] { AdapterPrecision.AtLeastFloat32, AdapterPrecision.SameAsBase })
                    {
                        if (precision == AdapterPrecision.SameAsBase && dtype == ScalarType.Float32) continue;   // the same thing
                        string suffix = precision == AdapterPrecision.SameAsBase ? "-bf16A" : "";
                        train.Add(Adapter($"r{rank} singlora{suffix}", new SingLoRALinear(Fresh(), new SingLoRAOptions(rank, RampLength: 100, Precision: precision)), x, target));
                        train.Add(Adapter($"r{rank} lora{suffix}", new LoRALinear(Fresh(), new LoRAOptions(rank, Precision: precision)), x, target));
                    }
                    var unmerged = new SingLoRALinear(Fresh(), new SingLoRAOptions(rank, RampLength: 0));
                    infer.Add(Infer($"r{rank} singlora-unmerged", unmerged, x));
                    var merged = new SingLoRALinear(Fresh(), new SingLoRAOptions(rank, RampLength: 0));
                    merged.Merge();
                    infer.Add(Infer($"r{rank} singlora-merged", merged, x));
                }
                foreach (var (phase, ops) in new[] { ("train", train), ("infer", infer) })
                {
                    var times = Measure(ops.Select(t => t.Item2).ToList(), device, o.Warmup, o.Iterations);
                    for (int i = 0; i < ops.Count; i++)
                    {
                        var name = ops[i].Item1;
                        int rank = name.StartsWith('r') ? int.Parse(name[1..name.IndexOf(' ')], CultureInfo.InvariantCulture) : 0;
                        var sorted = times[i].OrderBy(t => t).ToArray();
                        rows.Add(new Row(shape.ToString(), rank, dtype, phase, rank == 0 ? name : name[(name.IndexOf(' ') + 1)..],
                            sorted[sorted.Length / 2], sorted[0], sorted[(int)Math.Ceiling(0.9 * (sorted.Length - 1))]));
                    }
                    foreach (var (_, _, d) in ops) d.Dispose();
                    log.WriteLine($"device-bench: {shape} {dtype} {phase} done");
                }
                w0.Dispose(); x.Dispose(); target.Dispose();
            }
        var path = o.Report ?? Path.Combine(Reports.DocsFolder(), $"device-{o.Device}.md");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, Markdown(rows, o, device));
        log.WriteLine($"device-bench: report written to {path}");
        return rows;
    }

    // Per iteration, every op once, in an order rotated each iteration; each call timed between two synchronisations.
    private static List<double>[] Measure(IReadOnlyList<Action> ops, Device device, int warmup, int iterations)
    {
        void Sync() { if (device.type == DeviceType.CUDA) cuda.synchronize(); }
        var times = ops.Select(_ => new List<double>()).ToArray();
        var sw = new Stopwatch();
        for (int it = 0; it < warmup + iterations; it++)
            for (int j = 0; j < ops.Count; j++)
            {
                int i = (j + it) % ops.Count;
                Sync();
                sw.Restart();
                ops[i]();
                Sync();
                sw.Stop();
                if (it >= warmup) times[i].Add(sw.Elapsed.TotalMilliseconds);
            }
        return times;
    }

    private sealed class Owned(params IDisposable[] items) : IDisposable
    {
        public void Dispose() { foreach (var i in items) i.Dispose(); }
    }

    private static (string, Action, IDisposable) Frozen(string name, Linear layer, Tensor x, Tensor target)
    {
        layer.weight.requires_grad = false;
        layer.bias!.requires_grad = false;
        var input = x.detach().clone().requires_grad_(true);
        return (name, () =>
        {
            using var scope = NewDisposeScope();
            nn.functional.mse_loss(layer.forward(input), target).backward();
            input.grad!.zero_();
        }, new Owned(layer, input));
    }

    private static (string, Action, IDisposable) Adapter(string name, AdaptedLinear layer, Tensor x, Tensor target)
    {
        var input = x.detach().clone().requires_grad_(true);
        var optimizer = optim.AdamW(layer.AdapterParameters, lr: 1e-4, weight_decay: 0);
        return (name, () =>
        {
            using var scope = NewDisposeScope();
            var loss = nn.functional.mse_loss(layer.forward(input), target);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            if (layer is SingLoRALinear s) s.AdvanceRamp();
            input.grad!.zero_();
        }, new Owned(optimizer, layer, input));
    }

    private static (string, Action, IDisposable) Infer(string name, nn.Module<Tensor, Tensor> layer, Tensor x)
    {
        layer.eval();
        return (name, () =>
        {
            using var mode = inference_mode();
            using var scope = NewDisposeScope();
            layer.forward(x);
        }, layer);
    }

    private static string F(double v, string format = "0.000") => v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>The report: the machine, the options, every row with its ratio to the base and to LoRA, and the targets.</summary>
    public static string Markdown(IReadOnlyList<Row> rows, Options o, Device device)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# Device benchmark: {device}");
        sb.AppendLine();
        sb.AppendLine($"Machine: {Reports.Machine()}; device {device}{(device.type == DeviceType.CUDA ? $", {cuda.device_count()} CUDA device(s)" : "")}; " +
                      $"libtorch {(LibTorchRuntime.Current?.ToString() ?? "from the app's package or LD_LIBRARY_PATH")}.");
        sb.AppendLine();
        sb.AppendLine($"{o.Tokens} tokens; warm-up {o.Warmup}, {o.Iterations} timed calls per variant, interleaved, each between two device synchronisations; milliseconds. " +
                      "train = forward + MSE + backward (to the input and the adapter) + AdamW (lr 1e-4, no weight decay) + ramp advance; the frozen base does forward + MSE + backward to the input. " +
                      "infer = forward in inference mode. `-bf16A`: adapter tensors in the base dtype (`AdapterPrecision.SameAsBase`); otherwise float32 adapter tensors on a 16-bit base (the default). " +
                      $"Command: `dotnet run -c Release --project tests/SingLoRA.Benchmarks -- --device {o.Device} --tokens {o.Tokens} --shapes {string.Join(",", o.Shapes)} --ranks {string.Join(",", o.Ranks)} --dtypes {string.Join(",", o.Dtypes.Select(d => d.ToString().ToLowerInvariant()))} --iters {o.Iterations} --warmup {o.Warmup}`.");
        sb.AppendLine();
        sb.AppendLine("| shape | rank | dtype | phase | variant | median ms | min ms | p90 ms | / base | / LoRA (same precision) |");
        sb.AppendLine("| --- | ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in rows)
        {
            var baseRow = rows.First(b => b.Shape == r.Shape && b.Dtype == r.Dtype && b.Phase == r.Phase && b.Variant == "base");
            var lora = r.Variant.StartsWith("singlora", StringComparison.Ordinal) && r.Phase == "train"
                ? rows.FirstOrDefault(l => l.Shape == r.Shape && l.Dtype == r.Dtype && l.Phase == "train" && l.Rank == r.Rank && l.Variant == r.Variant.Replace("singlora", "lora"))
                : null;
            sb.AppendLine($"| {r.Shape} | {(r.Rank == 0 ? "-" : r.Rank)} | {r.Dtype} | {r.Phase} | {r.Variant} | {F(r.MedianMs)} | {F(r.MinMs)} | {F(r.P90Ms)} | {F(r.MedianMs / baseRow.MedianMs)} | {(lora is null ? "-" : F(r.MedianMs / lora.MedianMs))} |");
        }
        return sb.ToString();
    }
}
