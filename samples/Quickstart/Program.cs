using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using SingLoRA;
using SingLoRA.AdapterFiles;
using SingLoRA.Platform;
using SingLoRA.Samples;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace Quickstart;

/// <summary>The quickstart's entry point (<see cref="QuickstartApp.Run"/> is also called in-process by the smoke tests).</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        LibTorchRuntime.Configure(Console.Error);
        return QuickstartApp.Run(args);
    }
}

/// <summary>
/// Pre-trains a small transformer on "previous token", then fine-tunes only SingLoRA adapters (on <c>q</c>, <c>k</c>,
/// <c>v</c> of every block, declared with <c>[SingLoRA]</c> in <see cref="AdaptedAttention"/>) on "copy two back".
/// </summary>
public static class QuickstartApp
{
    public const string CommandPrefix = "dotnet run --project samples/Quickstart -c Release --";

    /// <summary>Runs the quickstart; returns the exit code. <paramref name="console"/> defaults to the terminal.</summary>
    public static int Run(string[] args, IAnsiConsole? console = null)
    {
        console ??= AnsiConsole.Console;
        var cl = new CommandLine(args, CommandPrefix);
        FineTuneSetup setup;
        double lr;
        int logEvery;
        string outDir, deviceName, basePath, adaptersPath;
        double tolerance;
        int threads, secondSteps;
        Func<SingLoRAOptions, SingLoRAOptions> adapterOptions;
        try
        {
            setup = FineTuneSetup.Read(cl);
            lr = cl.Double("lr", 1e-2, "fine-tuning AdamW learning rate (SingLoRA adapters only)");
            logEvery = cl.Int("log-every", 10, "steps between loss read-backs (progress bar and log)");
            outDir = cl.String("out", "artifacts/quickstart", "folder for the adapter (adapter/) and the loss-curve PNG");
            deviceName = cl.String("device", "cpu", "cpu or cuda (falls back to the CPU with a message when CUDA is unavailable)");
            tolerance = cl.Double("merge-tolerance", 1e-4, "largest allowed |merged - unmerged| logit difference");
            threads = cl.Int("threads", 0, "torch CPU threads (0: TorchSharp's default, one per core)");
            secondSteps = cl.Int("second-steps", 300, "steps for a second named adapter on 'copy offset+1' beside the first (0: skip)");
            basePath = cl.String("base", "", "load the pre-trained model from this .safetensors file (an earlier run's base.safetensors) instead of pre-training");
            adaptersPath = cl.String("adapters", "", "start from the adapters in this folder (written by SaveAdapters or python/train_ddp.py) instead of fresh ones");
            // The [SingLoRA] attribute of AdaptedAttention declares the defaults; these options change them at run time.
            int rank = cl.Int("rank", 8, "SingLoRA rank r on q, k, v");
            double alpha = cl.Double("alpha", 16, "SingLoRA alpha (scale alpha / r)");
            int ramp = cl.Int("ramp-steps", 30, "ramp length T in optimizer steps (0: no ramp)");
            double dropout = cl.Double("dropout", 0, "dropout on the adapter path");
            var init = Enum.Parse<AdapterInit>(cl.String("init", nameof(AdapterInit.KaimingWidth), "A's init: KaimingWidth, KaimingRank or Gaussian"), ignoreCase: true);
            var scaling = Enum.Parse<ScalingRule>(cl.String("scaling", nameof(ScalingRule.AlphaOverRank), "AlphaOverRank or AlphaOverSqrtRank"), ignoreCase: true);
            adapterOptions = o => o with { Rank = rank, Alpha = alpha, RampLength = ramp, Dropout = dropout, Init = init, Scaling = scaling };
            adapterOptions(new SingLoRAOptions(rank)).Validate(); // a bad value is reported here, with the others
            if (cl.HelpRequested)
            {
                console.WriteLine(cl.Help("SingLoRA.Gen quickstart: pre-train a tiny transformer, fine-tune it with [SingLoRA] (q, k, v).\n" +
                    "The [SingLoRA] attribute of AdaptedAttention.cs declares the adapter's defaults; --rank, --alpha, --ramp-steps, --dropout, --init and --scaling change them (SingLoRAOverrides)."));
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
        if (threads > 0) set_num_threads(threads);
        var device = Devices.Resolve(deviceName, m => console.MarkupLineInterpolated($"[yellow]{m}[/]"));
        console.Write(new Rule("[bold]SingLoRA.Gen quickstart[/]").LeftJustified());
        console.MarkupLineInterpolated($"Device: [bold]{device}[/], torch threads: {get_num_threads()}, seed {setup.Seed}");
        console.MarkupLineInterpolated($"Model: {setup.Model.Layers} blocks, width {setup.Model.DModel}, {setup.Model.Heads} heads, vocabulary {setup.Model.Vocab}, length {setup.Model.Length}");
        console.MarkupLineInterpolated($"Pre-training task: {setup.PretrainTask}");
        console.MarkupLineInterpolated($"Fine-tuning task:  {setup.FineTuneTask}");
        console.WriteLine();

        // 1. Pre-train a plain model (every weight trainable) on the first task, or load one; save it for other engines (python/).
        TinyTransformer pretrained;
        float[] pretrainLosses = Array.Empty<float>();
        string checkpointPath = Path.Combine(outDir, "base.safetensors");
        if (basePath.Length == 0)
        {
            (pretrained, pretrainLosses) = WithProgress(console, "pre-train", setup.PretrainSteps, logEvery, onLog => setup.Pretrain(device, onLog, logEvery));
        }
        else
        {
            pretrained = TinyTransformer.Plain(setup.Model);
            try
            {
                pretrained.LoadSafeTensors(basePath);
            }
            catch (Exception e) when (e is IOException or SafeTensorsFormatException or ArgumentException or InvalidOperationException or System.Runtime.InteropServices.ExternalException)
            {
                // LibTorch's shape errors carry its C++ stack after the first line.
                console.MarkupLineInterpolated($"[red]Cannot load the pre-trained model from {basePath}: {e.Message.Split('\n')[0]}[/] (give the model sizes it was saved with)");
                pretrained.Dispose();
                return 1;
            }
            pretrained.to(device);
            checkpointPath = basePath;
            console.MarkupLineInterpolated($"Pre-trained model loaded from [bold]{basePath}[/]");
        }
        var checkpoint = Trainer.Snapshot(pretrained);
        if (basePath.Length == 0) SafeTensors.Save(checkpointPath, checkpoint);
        var (evalPreX, evalPreY) = setup.EvalSet(setup.PretrainTask, device);
        var (evalX, evalY) = setup.EvalSet(setup.FineTuneTask, device);
        var pretrainedOnA = Trainer.Evaluate(pretrained, evalPreX, evalPreY);
        var plain = pretrained.CountParameters();
        pretrained.Dispose();

        // 2. The same architecture with [SingLoRA] attention; the plain checkpoint loads into it (only adapter keys are missing).
        TinyTransformer model;
        using (SingLoRAOverrides.Scope(adapterOptions))
            model = new TinyTransformer(setup.Model, c => new AdaptedAttention(c));
        model.LoadPretrained(checkpoint);
        model.to(device);
        if (adaptersPath.Length > 0)
        {
            try
            {
                model.LoadAdapters(adaptersPath);
            }
            catch (AdapterLoadException e)
            {
                console.MarkupLineInterpolated($"[red]{e.Message}[/]");
                return 1;
            }
            if (model.GetSingLoRALayers().Any(a => a.Adapter.IsMerged)) model.UnmergeAdapters(); // fine-tuning and the merge check start unmerged
            console.MarkupLineInterpolated($"Adapters loaded from [bold]{adaptersPath}[/] (ramp step {model.GetSingLoRALayers()[0].Adapter.RampStep})");
        }
        model.FreezeAllButAdapters();
        var summary = model.CountParameters();
        long loraSameRank = model.GetSingLoRALayers().Sum(a => (a.Adapter.in_features + a.Adapter.out_features) * a.Adapter.Rank);
        long singlora = model.AdapterParameters().Sum(p => p.numel());
        var table = new Table().AddColumns("", "values");
        table.AddRow("model parameters (pre-trained, all trained)", $"{plain.Total:N0}");
        table.AddRow($"SingLoRA adapters (rank {model.GetSingLoRALayers()[0].Adapter.Rank} on q, k, v of each block)", $"{summary.Trainable:N0} trainable of {summary.Total:N0} ({summary.Percent:0.00}%)");
        table.AddRow("LoRA at the same rank would train", $"{loraSameRank:N0} ({(double)loraSameRank / singlora:0.0}x)");
        table.AddRow("LoRA with as many parameters", $"rank {model.GetSingLoRALayers()[0].Adapter.Rank / 2.0:0.#} (r/2 on these square layers)");
        console.Write(table);
        console.MarkupLineInterpolated($"[grey]{summary}[/]");

        var before = Trainer.Evaluate(model, evalX, evalY);
        var beforeOnA = Trainer.Evaluate(model, evalPreX, evalPreY);
        console.MarkupLineInterpolated($"{(adaptersPath.Length > 0 ? "With the loaded adapters" : "Before fine-tuning")}: accuracy on the fine-tuning task [bold]{before.Accuracy:P1}[/] (loss {before.Loss:0.000}); on the pre-training task {beforeOnA.Accuracy:P1} (pre-trained model: {pretrainedOnA.Accuracy:P1})");

        // 3. Fine-tune the adapters only. The ramp u(t) counts optimizer steps: advance it once per optimizer.step().
        using var optimizer = optim.AdamW(model.AdapterParameters(), lr: lr);
        using var data = setup.FineTuneData(setup.Seed);
        var result = WithProgress(console, "fine-tune", setup.Steps, logEvery, onLog =>
            Trainer.Train(model, optimizer, setup.FineTuneTask, setup.Steps, setup.Batch, data, device, afterStep: model.AdvanceRamp, logEvery: logEvery, onLog: onLog));
        var after = Trainer.Evaluate(model, evalX, evalY);
        var afterOnA = Trainer.Evaluate(model, evalPreX, evalPreY);
        console.MarkupLineInterpolated($"After {setup.Steps} steps (u(t) = {model.RampValue():0.00}, {result.Seconds:0.0} s): accuracy on the fine-tuning task [bold green]{after.Accuracy:P1}[/] (loss {after.Loss:0.000}); on the pre-training task {afterOnA.Accuracy:P1}");

        // 4. Merge: W <- W0 + s u A Aᵀ; the merged model must compute the same outputs without the adapter path.
        double mergeDiff;
        using (no_grad())
        {
            model.eval();
            using var unmerged = model.forward(evalX);
            model.MergeAdapters();
            using var merged = model.forward(evalX);
            mergeDiff = (merged - unmerged).abs().max().item<float>();
            model.UnmergeAdapters();
            using var again = model.forward(evalX);
            double restoreDiff = (again - unmerged).abs().max().item<float>();
            model.train();
            bool ok = mergeDiff <= tolerance && restoreDiff <= tolerance;
            console.MarkupInterpolated($"Merge check: max |merged - unmerged| logit = {mergeDiff:0.0e+0}, after unmerge {restoreDiff:0.0e+0} (tolerance {tolerance:0e+0}): ");
            console.MarkupLine(ok ? "[green]agree[/]" : "[red]DISAGREE[/]");
            if (!ok) return 1;
        }

        // 5. The base model is still there: switch the adapters off (a scope) and the pre-training task comes back.
        EvalResult baseAgain;
        using (model.DisableAdapters()) baseAgain = Trainer.Evaluate(model, evalPreX, evalPreY);
        console.MarkupLineInterpolated($"Adapters switched off (model.DisableAdapters()): accuracy on the pre-training task {baseAgain.Accuracy:P1} (the pre-trained model: {pretrainedOnA.Accuracy:P1}); back on: {Trainer.Evaluate(model, evalPreX, evalPreY).Accuracy:P1}");

        // 6. A second named adapter on the same base, for another task; switching between them copies nothing.
        if (secondSteps > 0) SecondAdapter(console, model, setup, device, lr, secondSteps, logEvery, evalX, evalY, after.Accuracy);

        // 7. Save the adapters (A and the step counter of each target, with the options), reload them into a fresh copy of the pre-trained model, compare.
        var (adapterPath, adapterBytes, reloadDiff) = SaveAndReload(model, setup, adapterOptions, checkpoint, outDir, evalX, device);
        console.MarkupLineInterpolated($"Adapters saved to [bold]{adapterPath}[/] ({adapterBytes:N0} bytes; the pre-trained model {checkpointPath} has {new FileInfo(checkpointPath).Length:N0}); reloaded into a fresh model: max logit difference {reloadDiff:0.0e+0}");

        // 8. The loss curve.
        var png = Path.Combine(outDir, "loss-curve.png");
        int smooth = Math.Max(1, Math.Min(10, setup.Steps / 10));
        Charts.Lines(png, "Quickstart: pre-training (all weights), then SingLoRA fine-tuning (q, k, v adapters)", "step", "training loss (moving average)",
            new[]
            {
                new Series("pre-training: previous token", Enumerable.Range(1, pretrainLosses.Length).Select(i => (double)i).ToArray(), Stats.Smooth(pretrainLosses, smooth)),
                new Series($"SingLoRA fine-tuning: copy {setup.Offset} back", Enumerable.Range(pretrainLosses.Length + 1, result.Losses.Length).Select(i => (double)i).ToArray(), Stats.Smooth(result.Losses, smooth)),
            }, logY: true);
        console.MarkupLineInterpolated($"Loss curve: [bold]{png}[/]");
        console.MarkupLineInterpolated($"Done in {total.Elapsed.TotalSeconds:0.0} s. Reproduce with:");
        // --base and --adapters are left out when not given (an empty value cannot be written unquoted).
        console.WriteLine("  " + cl.EffectiveCommand(skip: new[] { ("base", basePath), ("adapters", adaptersPath) }.Where(o => o.Item2.Length == 0).Select(o => o.Item1)));
        checkpoint.Values.ToList().ForEach(t => t.Dispose());
        model.Dispose();
        return 0;
    }

    private static void SecondAdapter(IAnsiConsole console, TinyTransformer model, FineTuneSetup setup, Device device, double lr, int steps, int logEvery,
        Tensor evalX, Tensor evalY, double firstAccuracy)
    {
        var task = setup.FineTuneTask with { Offset = setup.Offset + 1 };
        string name = $"copy{task.Offset}";
        model.AddAdapter(name);                 // every SingLoRA layer gets a fresh A and ramp step under this name
        model.SetActiveAdapter(name);           // the forward, the ramp and training now use it; "default" is frozen
        using var optimizer = optim.AdamW(model.AdapterParameters(), lr: lr);
        using var data = setup.FineTuneData(setup.Seed + 1);
        var result = WithProgress(console, name, steps, logEvery, onLog =>
            Trainer.Train(model, optimizer, task, steps, setup.Batch, data, device, afterStep: model.AdvanceRamp, logEvery: logEvery, onLog: onLog));
        var (evalX2, evalY2) = setup.EvalSet(task, device);
        var second = Trainer.Evaluate(model, evalX2, evalY2);
        var clock = Stopwatch.StartNew();
        const int switches = 1000;
        for (int i = 0; i < switches; i++) { model.SetActiveAdapter("default"); model.SetActiveAdapter(name); }
        double microseconds = clock.Elapsed.TotalMilliseconds * 1000 / (2 * switches);
        model.SetActiveAdapter("default");
        var first = Trainer.Evaluate(model, evalX, evalY);
        console.MarkupLineInterpolated($"Second adapter '{name}' ({steps} steps, {result.Seconds:0.0} s): accuracy on '{task}' [bold green]{second.Accuracy:P1}[/]; switched back to 'default': its task {first.Accuracy:P1} (before: {firstAccuracy:P1}); a switch of the whole model takes {microseconds:0} µs (no tensor is copied)");
        evalX2.Dispose();
        evalY2.Dispose();
    }

    private static (string Path, long Bytes, double Diff) SaveAndReload(TinyTransformer model, FineTuneSetup setup, Func<SingLoRAOptions, SingLoRAOptions> adapterOptions, Dictionary<string, Tensor> checkpoint, string outDir, Tensor evalX, Device device)
    {
        // The adapter file API: A and the step counter of every adapted layer (adapter_model.safetensors) plus the options,
        // ramp state and merge state (adapter_config.json). The pre-trained base weights are not in it.
        var path = Path.Combine(outDir, "adapter");
        model.SaveAdapters(path);
        using var overrides = SingLoRAOverrides.Scope(adapterOptions);
        using var fresh = new TinyTransformer(setup.Model, c => new AdaptedAttention(c));
        fresh.LoadPretrained(checkpoint);
        fresh.to(device);
        fresh.LoadAdapters(path);
        using var _ = no_grad();
        model.eval();
        fresh.eval();
        using var a = model.forward(evalX);
        using var b = fresh.forward(evalX);
        model.train();
        return (path, new DirectoryInfo(path).GetFiles().Sum(f => f.Length), (a - b).abs().max().item<float>());
    }

    /// <summary>Runs <paramref name="work"/> under a Spectre.Console progress bar that shows the latest logged loss.</summary>
    private static T WithProgress<T>(IAnsiConsole console, string name, int steps, int logEvery, Func<Action<int, double>, T> work)
    {
        T result = default!;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask($"{name,-9} loss  -.----", maxValue: Math.Max(steps, 1));
                result = work((step, loss) =>
                {
                    task.Description = $"{name,-9} loss {loss,7:0.0000}";
                    task.Value = step;
                });
                task.Value = task.MaxValue;
            });
        return result;
    }
}
