using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using SingLoRA;
using SingLoRA.AdapterFiles;
using SingLoRA.Platform;
using SingLoRA.Samples;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace GpuCheck;

public static class Program
{
    public static int Main(string[] args)
    {
        LibTorchRuntime.Configure(Console.Error);
        return GpuCheckApp.Run(args, Console.Out);
    }
}

/// <summary>
/// Checks on a device (CUDA, or the CPU for a rehearsal) what the test suite checks on the CPU for the parts of SingLoRA.Gen
/// that differ by device: the forward against a float64 reference, merge and unmerge in float32 and bfloat16, adapter files
/// saved on the device and loaded on the CPU and back, a generated model moved with <c>.to(device)</c> then trained, dtype
/// moves with a float32 master <c>A</c>, and the non-finite guard. Prints one line per check and a summary line
/// <c>gpu-check: N passed, M failed on DEVICE</c>; exits non-zero on any failure. Unlike the samples it never falls
/// back to the CPU: asking for CUDA where there is none is a failure.
/// </summary>
public static class GpuCheckApp
{
    public static int Run(string[] args, TextWriter output)
    {
        var cl = new CommandLine(args, "dotnet run -c Release --project tools/gpu/GpuCheck --");
        string deviceName = cl.String("device", "cuda", "cuda or cpu (cpu: a rehearsal of the same checks)");
        if (cl.HelpRequested)
        {
            output.WriteLine(cl.Help("GPU correctness checks for SingLoRA.Gen"));
            return 0;
        }
        cl.ThrowOnUnknown();

        output.WriteLine($"gpu-check: TorchSharp {typeof(torch).Assembly.GetName().Version}, libtorch {(LibTorchRuntime.Current?.ToString() ?? "from the app's package or LD_LIBRARY_PATH")}");
        Device device;
        switch (deviceName)
        {
            case "cpu": device = CPU; break;
            case "cuda" when cuda.is_available():
                device = CUDA;
                output.WriteLine($"gpu-check: cuda.is_available = True, device_count = {cuda.device_count()}, cudnn = {cuda.is_cudnn_available()}");
                break;
            case "cuda":
                output.WriteLine("gpu-check: FAIL: CUDA was requested but torch.cuda.is_available() is false (a CPU libtorch, or no GPU/driver). 0 passed, 1 failed on cuda");
                return 1;
            default:
                output.WriteLine($"gpu-check: --device must be cuda or cpu (got '{deviceName}').");
                return 2;
        }

        var checks = new (string Name, Func<Device, string> Check)[]
        {
            ("forward matches the float64 formula (fp32, bf16; square and both non-square)", Checks.ForwardAgainstFloat64),
            ("merge and unmerge in float32", d => Checks.MergeUnmerge(d, ScalarType.Float32)),
            ("merge and unmerge in bfloat16 (float32 master A)", d => Checks.MergeUnmerge(d, ScalarType.BFloat16)),
            ("a generated model moved with .to(device) trains", Checks.GeneratedModelMovesAndTrains),
            ("adapters saved on the device load on the CPU, and back", Checks.SaveOnDeviceLoadOnCpuAndBack),
            ("dtype moves keep a float32 master A; bf16 training updates it", Checks.DtypeMoves),
            ("the non-finite guard stops at the bad step", Checks.NonFiniteGuardStops),
        };
        int passed = 0, failed = 0;
        foreach (var (name, check) in checks)
        {
            using var scope = NewDisposeScope();
            try
            {
                string detail = check(device);
                passed++;
                output.WriteLine($"ok    {name}: {detail}");
            }
            catch (Exception e)
            {
                failed++;
                output.WriteLine($"FAIL  {name}: {e.GetType().Name}: {e.Message}");
                output.WriteLine(e.StackTrace);
            }
        }
        output.WriteLine($"gpu-check: {passed} passed, {failed} failed on {device}");
        return failed == 0 ? 0 : 1;
    }
}

/// <summary>An attention block as users write it, adapted by the generator: intercepted Linear fields (q, k) and a swapped module field (up).</summary>
[SingLoRA(Rank = 4, Targets = "q,k,up", Alpha = 8, RampLength = 5)]
public partial class CheckBlock : Module<Tensor, Tensor>
{
    private readonly Linear q, k, v;
    private readonly Module<Tensor, Tensor> up, down;

    public CheckBlock(long d) : base(nameof(CheckBlock))
    {
        q = Linear(d, d);
        k = Linear(d, d);
        v = Linear(d, d);
        up = Linear(d, 2 * d);
        down = Linear(2 * d, d);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var scores = q.forward(x).matmul(k.forward(x).transpose(-2, -1)).div(Math.Sqrt(x.shape[^1]));
        var h = x + scores.softmax(-1).matmul(v.forward(x));
        return h + down.call(functional.gelu(up.call(h)));
    }
}

/// <summary>The checks; each returns a one-line detail (measured numbers) or throws.</summary>
internal static class Checks
{
    private const long D = 32;

    private static void Require(bool condition, string message)
    {
        if (!condition) throw new InvalidOperationException(message);
    }

    private static double MaxAbs(Tensor a, Tensor b) =>
        (a.to(CPU).to_type(ScalarType.Float64) - b.to(CPU).to_type(ScalarType.Float64)).abs().max().item<double>();

    private static double RelErr(Tensor actual, Tensor expected)
    {
        var e = expected.to(CPU).to_type(ScalarType.Float64);
        return (actual.to(CPU).to_type(ScalarType.Float64) - e).norm().item<double>() / Math.Max(e.norm().item<double>(), 1e-300);
    }

    /// <summary><c>x W0ᵀ + b + s·u·(x A_in) A_outᵀ</c> in float64 on the CPU.</summary>
    private static Tensor Reference(SingLoRALinear layer, Tensor x)
    {
        var x64 = x.to(CPU).to_type(ScalarType.Float64);
        var w = layer.weight.detach().to(CPU).to_type(ScalarType.Float64);
        var a = layer.A.detach().to(CPU).to_type(ScalarType.Float64);
        var delta = a.narrow(0, 0, layer.out_features).matmul(a.narrow(0, 0, layer.in_features).t());
        var y = x64.matmul((w + layer.CurrentScale * delta).t());
        return layer.bias is null ? y : y + layer.bias.detach().to(CPU).to_type(ScalarType.Float64);
    }

    public static string ForwardAgainstFloat64(Device device)
    {
        double worst32 = 0, worst16 = 0;
        foreach (var (dIn, dOut) in new[] { (64L, 64L), (96L, 48L), (48L, 96L) })
            foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
            {
                manual_seed(dIn + dOut);
                var layer = new SingLoRALinear(nn.Linear(dIn, dOut, device: device, dtype: dtype), new SingLoRAOptions(8, Alpha: 12, RampLength: 40));
                layer.SetRampStep(10);
                var x = randn(4, 9, dIn, device: device).to_type(dtype);
                double err = RelErr(layer.forward(x), Reference(layer, x));
                if (dtype == ScalarType.Float32) worst32 = Math.Max(worst32, err); else worst16 = Math.Max(worst16, err);
            }
        Require(worst32 < 1e-5, $"float32 relative error {worst32:E2} (limit 1e-5)");
        Require(worst16 < 2e-2, $"bfloat16 relative error {worst16:E2} (limit 2e-2)");
        return $"relative error fp32 {worst32:E2}, bf16 {worst16:E2}";
    }

    public static string MergeUnmerge(Device device, ScalarType dtype)
    {
        manual_seed(7);
        var layer = new SingLoRALinear(nn.Linear(64, 96, device: device, dtype: dtype), new SingLoRAOptions(8, RampLength: 10));
        layer.SetRampStep(4);
        layer.eval();
        var w0 = layer.weight.detach().clone();
        var x = randn(16, 64, device: device).to_type(dtype);
        var unmerged = layer.forward(x).detach();
        layer.Merge();
        double mergedDiff = MaxAbs(layer.forward(x), unmerged);
        layer.Unmerge();
        double restore = MaxAbs(layer.weight, w0);
        double scale = unmerged.abs().max().to_type(ScalarType.Float32).item<float>();
        if (dtype == ScalarType.Float32)
        {
            Require(mergedDiff < 1e-4 * Math.Max(1, scale), $"merged vs unmerged {mergedDiff:E2}");
            Require(restore < 1e-6, $"unmerge left W0 off by {restore:E2}");
        }
        else
        {
            // bf16 keeps 8 significant bits: outputs of size ~scale differ by rounding; W0 comes back within 2 roundings.
            Require(mergedDiff < 0.05 * Math.Max(1, scale), $"merged vs unmerged {mergedDiff:E2} (output scale {scale:G3})");
            double bound = 2 * Math.Pow(2, -8) * w0.abs().max().to_type(ScalarType.Float32).item<float>();
            Require(restore <= bound, $"unmerge left W0 off by {restore:E2} (bound {bound:E2})");
        }
        Require(layer.A.dtype == ScalarType.Float32, $"A is {layer.A.dtype}, expected the float32 master");
        return $"max |merged - unmerged| {mergedDiff:E2}, W0 restored within {restore:E2}";
    }

    private static (Tensor X, Tensor Y) Task(Device device, int seed)
    {
        var g = new Generator((ulong)seed);
        var x = randn(new long[] { 8, 6, D }, generator: g);
        return (x.to(device), x.flip(1).to(device));   // learn to reverse the sequence: needs attention
    }

    private static float Train(nn.Module model, Func<Tensor, Tensor> forward, Device device, int steps)
    {
        model.FreezeAllButAdapters();
        using var optimizer = optim.AdamW(model.AdapterParameters(), lr: 1e-2);
        var (x, y) = Task(device, 1);
        var losses = zeros(steps, device: device);
        for (int i = 0; i < steps; i++)
        {
            using var scope = NewDisposeScope();
            var loss = functional.mse_loss(forward(x), y);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            model.AdvanceRamp();
            losses[i] = loss.detach();   // on the device: one host read at the end
        }
        var l = losses.to(CPU);
        Require(l.isfinite().all().item<bool>(), "a loss was not finite");
        return l[-1].item<float>() / l[0].item<float>();
    }

    public static string GeneratedModelMovesAndTrains(Device device)
    {
        manual_seed(3);
        var model = new CheckBlock(D);
        model.to(device);
        Require(model.parameters().Concat(model.buffers()).All(t => t.device_type == device.type), "a tensor stayed behind");
        Require(model.GetSingLoRALayers().Count == 3, $"{model.GetSingLoRALayers().Count} adapters, expected 3");
        Require(model.GetSingLoRALayers().All(a => a.Adapter.A.device_type == device.type && a.Adapter.weight.device_type == device.type), "an adapter or its base weight is not on the device");
        model.to(device);   // a second move changes nothing
        float ratio = Train(model, model.forward, device, 60);
        Require(ratio < 0.9, $"loss went from 1 to {ratio:F3} of its start in 60 steps");
        Require(model.GetSingLoRALayers().All(a => a.Adapter.RampStep == 60), "the ramp step is not 60 after 60 optimizer steps");
        return $"loss fell to {ratio:P0} of its start in 60 steps; ramp step 60";
    }

    public static string SaveOnDeviceLoadOnCpuAndBack(Device device)
    {
        string dir = Path.Combine(Path.GetTempPath(), "singlora-gpu-check-" + Guid.NewGuid().ToString("N"));
        try
        {
            manual_seed(5);
            var trained = new CheckBlock(D);
            var baseWeights = trained.state_dict().Where(kv => !kv.Key.Contains("singlora")).ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            trained.to(device);
            Train(trained, trained.forward, device, 10);
            trained.SaveAdapters(Path.Combine(dir, "from-device"));
            var (x, _) = Task(device, 2);
            var expected = trained.forward(x).detach();

            var onCpu = new CheckBlock(D);
            onCpu.load_state_dict(baseWeights, strict: false);
            onCpu.FreezeAllButAdapters();   // as set up for fine-tuning (SaveAdapters refuses to drop trainable tensors)
            onCpu.LoadAdapters(Path.Combine(dir, "from-device"));
            double cpuDiff = MaxAbs(onCpu.forward(x.to(CPU)), expected);
            Require(cpuDiff < 1e-4, $"the CPU model's output differs by {cpuDiff:E2}");
            onCpu.SaveAdapters(Path.Combine(dir, "from-cpu"));

            var back = new CheckBlock(D);
            back.load_state_dict(baseWeights, strict: false);
            back.to(device);
            back.LoadAdapters(Path.Combine(dir, "from-cpu"));
            double backDiff = MaxAbs(back.forward(x), expected);
            Require(backDiff < 1e-4, $"the reloaded device model's output differs by {backDiff:E2}");
            Require(back.GetSingLoRALayers().All(a => a.Adapter.A.device_type == device.type && a.Adapter.RampStep == 10), "the loaded adapters are not on the device at step 10");
            return $"CPU vs device {cpuDiff:E2}, reloaded on the device {backDiff:E2}";
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    public static string DtypeMoves(Device device)
    {
        manual_seed(9);
        var model = new CheckBlock(D);
        model.to(device);
        var a32 = model.GetSingLoRALayers().Select(a => a.Adapter.A.detach().clone()).ToList();
        model.to(ScalarType.BFloat16);
        var adapters = model.GetSingLoRALayers();
        Require(adapters.All(a => a.Adapter.weight.dtype == ScalarType.BFloat16), "a base weight is not bfloat16");
        Require(adapters.All(a => a.Adapter.A.dtype == ScalarType.Float32), "A left float32 in the move to bfloat16");
        Require(adapters.Zip(a32).All(p => p.First.Adapter.A.eq(p.Second).all().item<bool>()), "A changed in the move");
        model.FreezeAllButAdapters();
        model.SetRampStep(5);   // u = 1: at t = 0 the ramp makes A's gradient exactly zero
        using var optimizer = optim.AdamW(model.AdapterParameters(), lr: 1e-3);
        var (x, y) = Task(device, 3);
        var loss = functional.mse_loss(model.forward(x.to_type(ScalarType.BFloat16)).to_type(ScalarType.Float32), y);
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        model.AdvanceRamp();
        double moved = adapters.Zip(a32).Max(p => MaxAbs(p.First.Adapter.A, p.Second));
        Require(moved > 0 && moved < 1e-2, $"one bf16 step moved A by {moved:E2}");
        model.to(ScalarType.Float32);
        Require(adapters.All(a => a.Adapter.weight.dtype == ScalarType.Float32 && a.Adapter.A.dtype == ScalarType.Float32), "the move back to float32 failed");
        return $"A stayed float32 through bf16 and back; one bf16 step moved it by {moved:E2}";
    }

    public static string NonFiniteGuardStops(Device device)
    {
        manual_seed(11);
        var model = new CheckBlock(D);
        model.to(device);
        model.FreezeAllButAdapters();
        using var optimizer = optim.AdamW(model.AdapterParameters(), lr: 1e-2);
        using var guard = new NonFiniteGuard(model);
        var (x, y) = Task(device, 4);
        try
        {
            for (int step = 1; step <= 10; step++)
            {
                using var scope = NewDisposeScope();
                var input = step == 6 ? x.clone().index_fill_(0, tensor(new long[] { 0 }, device: device), double.NaN) : x;
                var loss = functional.mse_loss(model.forward(input), y);
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                model.AdvanceRamp();
                guard.AfterStep(loss);
            }
        }
        catch (NonFiniteTrainingException e)
        {
            Require(e.Step == 6, $"stopped at step {e.Step}, expected 6");
            return "stopped at step 6 of a NaN injected at step 6";
        }
        throw new InvalidOperationException("a NaN input at step 6 did not stop training");
    }
}
