using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace SingLoRA.Samples;

/// <summary>The per-step training losses of one run and its wall time.</summary>
public sealed record TrainResult(float[] Losses, double Seconds);

/// <summary>Loss and accuracy on a held-out set.</summary>
public readonly record struct EvalResult(double Loss, double Accuracy);

/// <summary>The training loop shared by the apps.</summary>
public static class Trainer
{
    /// <summary>
    /// Trains <paramref name="model"/> on <paramref name="task"/> for <paramref name="steps"/> optimizer steps. Every step
    /// runs in its own dispose scope; its loss is written into a device tensor (no host read), which is read only every
    /// <paramref name="logEvery"/> steps (for <paramref name="onLog"/>: step, mean loss of the window) and once at the end.
    /// <paramref name="afterStep"/> runs after each <c>optimizer.step()</c> (advance SingLoRA ramps there).
    /// </summary>
    public static TrainResult Train(
        nn.Module<Tensor, Tensor> model, optim.Optimizer optimizer, CopyTask task, int steps, int batch, Generator data, Device device,
        Action? afterStep = null, int logEvery = 0, Action<int, double>? onLog = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        var watch = Stopwatch.StartNew();
        model.train();
        using var losses = zeros(Math.Max(steps, 1), device: device);
        int windowStart = 0;
        for (int step = 0; step < steps; step++)
        {
            using (var scope = NewDisposeScope())
            {
                var (x, y) = task.Sample(batch, data, device);
                var loss = CopyTask.Loss(model.forward(x), y);
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                afterStep?.Invoke();
                losses[step].copy_(loss.detach());
            }
            if (onLog is not null && logEvery > 0 && ((step + 1) % logEvery == 0 || step + 1 == steps))
            {
                using var window = losses.narrow(0, windowStart, step + 1 - windowStart).mean();
                onLog(step + 1, window.item<float>());
                windowStart = step + 1;
            }
        }
        using var host = losses.narrow(0, 0, steps).cpu();
        return new TrainResult(host.data<float>().ToArray(), watch.Elapsed.TotalSeconds);
    }

    /// <summary>Loss and accuracy of <paramref name="model"/> on a fixed batch, in evaluation mode without gradients.</summary>
    public static EvalResult Evaluate(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y)
    {
        ArgumentNullException.ThrowIfNull(model);
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var logits = model.forward(x);
            return new EvalResult(CopyTask.Loss(logits, y).item<float>(), CopyTask.Accuracy(logits, y).item<float>());
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }

    /// <summary>A CPU random generator seeded with <paramref name="seed"/> (data are drawn on the CPU so that runs on any device see the same data).</summary>
    public static Generator DataGenerator(long seed) => new Generator((ulong)seed);

    /// <summary>A detached copy of the model's state dict (for re-using one pre-trained checkpoint across many runs).</summary>
    public static Dictionary<string, Tensor> Snapshot(nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone().DetachFromDisposeScope());
    }
}
