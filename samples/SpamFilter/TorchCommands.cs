using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using SingLoRA;
using SingLoRA.AdapterFiles;
using SingLoRA.Samples;
using SpamFilter.Data;
using SpamFilter.MiniLM;
using Spectre.Console;
using static TorchSharp.torch;

namespace SpamFilter;

/// <summary>
/// Training the classifier on PyTorch's distributed engine (<c>torchrun</c> + <c>python/train_ddp.py</c> with the twin
/// <c>python/minilm_twin.py</c>) and bringing the result back: <c>torch-data</c> writes the hand-off files (the initial
/// adapters with the head, the tokenised train and test splits), <c>torch-eval</c> scores the folder PyTorch wrote on the
/// test split and compares the logits with PyTorch's own. docs/distributed.md shows the whole sequence.
/// </summary>
public static class TorchCommands
{
    /// <summary>The folder both commands use unless told otherwise.</summary>
    public const string DefaultOut = "artifacts/torchrun";

    /// <summary>The name of the data file inside the <c>torch-data</c> folder.</summary>
    public const string DataFile = "data.safetensors";

    private sealed record DataOptions(string Cache, string Out, int Train, int Test, int MaxTokens, int Rank, double Alpha, int Ramp, long Seed);

    private sealed record EvalOptions(string Adapters, string Data, string Cache, string Logits, int Batch, int Threads);

    // ------------------------------------------------------------------------------------------------------------ torch-data

    /// <summary>
    /// The <c>torch-data</c> command: writes <c>OUT/start</c> (SingLoRA adapters on query, key, value and a new head, saved with
    /// <c>SaveAdapters</c>, the head being the config's module to save) and <c>OUT/data.safetensors</c> (<c>inputs</c>, <c>attention_mask</c>,
    /// <c>targets</c> of the training e-mails; <c>eval_inputs</c>, <c>eval_attention_mask</c>, <c>eval_targets</c> of the test
    /// e-mails; ids padded with 0, targets 1 for spam), then prints the <c>torchrun</c> and <c>torch-eval</c> commands.
    /// </summary>
    public static int Data(CommandLine cl, IAnsiConsole console)
    {
        if (!TextCommands.TryReadOptions(cl, console, "torch-data",
            "SpamFilter torch-data: write the files that python/train_ddp.py trains from under torchrun (the initial SingLoRA adapters with the head, " +
            "the tokenised SpamAssassin train and test splits); `torch-eval` scores what comes back. docs/distributed.md shows the sequence.", () =>
        {
            var cache = cl.String("cache", "artifacts/cache", "folder of the converted checkpoint and the npm tarball (kept between runs)");
            var outDir = cl.String("out", DefaultOut, "folder to write: start/ (adapters + head) and data.safetensors");
            int train = cl.Int("train", 0, "training e-mails (a fixed subset of the training split; 0: all 4,200 or so)");
            int test = cl.Int("test", 0, "test e-mails (a fixed subset of the test split; 0: all 900 or so)");
            int maxTokens = cl.Int("max-tokens", 64, "tokens per e-mail, [CLS] and [SEP] included (subject first, then the body)");
            int rank = cl.Int("rank", 8, "SingLoRA rank r");
            double alpha = cl.Double("alpha", 8, "SingLoRA alpha (scale alpha / r)");
            int ramp = cl.Int("ramp-steps", 40, "SingLoRA ramp length T in optimizer steps (0: none); torchrun's steps count from 0");
            long seed = cl.Int("seed", 0, "random seed of the adapters' and the head's initialisation");
            if (train < 0 || test < 0) throw new ArgumentException("--train and --test cannot be negative (0 takes the whole split).");
            BertConfig.MiniLML6.CheckMaxTokens(maxTokens);
            if (rank < 1 || ramp < 0) throw new ArgumentException("--rank must be at least 1 and --ramp-steps at least 0.");
            return new DataOptions(cache, outDir, train, test, maxTokens, rank, alpha, ramp, seed);
        }, out var o, out int exit)) return exit;

        string checkpoint;
        Corpus corpus;
        try
        {
            checkpoint = OnnxCheckpoint.Ensure(Path.Combine(o.Cache, "minilm"), m => console.MarkupLineInterpolated($"[grey]{m}[/]"));
            var tarball = SpamAssassin.EnsureTarball(Path.Combine(o.Cache, "spam-assassin"), m => console.MarkupLineInterpolated($"[grey]{m}[/]"));
            corpus = Corpus.Select(SpamAssassin.Load(tarball), o.Train, o.Test, BertWordPiece.FromPackage(), o.MaxTokens);
        }
        catch (InvalidOperationException e)
        {
            console.MarkupLineInterpolated($"[red]{e.Message}[/]");
            return 1;
        }

        var start = Path.Combine(o.Out, "start");
        var dataPath = Path.Combine(o.Out, DataFile);
        manual_seed(o.Seed);
        using (var model = TextClassifierModel.ForTraining(checkpoint, 2, new SingLoRAConfig(new SingLoRAOptions(o.Rank, o.Alpha, o.Ramp))))
            model.SaveAdapters(start);   // the adapters and the head (ForTraining's modules to save)
        using (var scope = NewDisposeScope())
        {
            var (ids, mask) = corpus.Tokenizer.Batch(corpus.TrainTokens);
            var (evalIds, evalMask) = corpus.Tokenizer.Batch(corpus.TestTokens);
            SafeTensors.Save(dataPath, new Dictionary<string, Tensor>
            {
                ["inputs"] = ids, ["attention_mask"] = mask, ["targets"] = tensor(corpus.Train.Select(e => e.IsSpam ? 1L : 0L).ToArray()),
                ["eval_inputs"] = evalIds, ["eval_attention_mask"] = evalMask, ["eval_targets"] = tensor(corpus.Test.Select(e => e.IsSpam ? 1L : 0L).ToArray()),
            }, new Dictionary<string, string> { ["classes"] = "0 ham, 1 spam", ["tokenizer"] = "all-MiniLM-L6-v2 WordPiece (uncased)", ["max_tokens"] = $"{o.MaxTokens}" });
        }

        console.MarkupLineInterpolated($"Wrote [bold]{start}[/]: SingLoRA rank {o.Rank}, alpha {o.Alpha}, ramp {o.Ramp} steps on query, key, value of all 6 layers, and a new head (modules_to_save: classifier).");
        console.MarkupLineInterpolated($"Wrote [bold]{dataPath}[/]: {corpus.Train.Count:N0} training e-mails ({corpus.Train.Count(e => e.IsSpam):N0} spam) and {corpus.Test.Count:N0} test e-mails ({corpus.Test.Count(e => e.IsSpam):N0} spam), up to {o.MaxTokens} tokens, padded.");
        console.MarkupLineInterpolated($"The pretrained encoder is the converted checkpoint [bold]{checkpoint}[/] (Hugging Face keys; minilm_twin:load_encoder reads it).");
        console.WriteLine("Train with torchrun (2 processes; GLOO_SOCKET_IFNAME=lo where the host name does not resolve), from the repository root:");
        console.WriteLine($"  {TorchrunCommand(checkpoint, o.Out)}");
        console.WriteLine("Then score what comes back on the test split:");
        console.WriteLine($"  {SpamFilterApp.CommandPrefix} torch-eval \\\n      --adapters {Path.Combine(o.Out, "trained")} \\\n      --data {dataPath} \\\n      --logits {Path.Combine(o.Out, "trained.logits.safetensors")}");
        return 0;
    }

    /// <summary>
    /// The <c>torchrun</c> command that trains the folder <c>torch-data</c> wrote into <paramref name="outDir"/>: one option per
    /// line, continued with <c>\</c>, so that the console does not wrap it in the middle of a path.
    /// </summary>
    public static string TorchrunCommand(string checkpoint, string outDir) => string.Join(" \\\n      ", new[]
    {
        "/usr/bin/python3 python/torchrun_py311.py --standalone --nproc_per_node 2",
        "python/train_ddp.py --model minilm_twin:SpamClassifier",
        $"--base {checkpoint}",
        "--base-loader minilm_twin:load_encoder",
        $"--adapters {Path.Combine(outDir, "start")}",
        $"--data {Path.Combine(outDir, DataFile)}",
        $"--out {Path.Combine(outDir, "trained")}",
        "--steps 200 --global-batch 16 --lr 1e-3 --head-lr 3e-3 --log-every 20",
        $"--eval-logits {Path.Combine(outDir, "trained.logits.safetensors")}",
    });

    // ------------------------------------------------------------------------------------------------------------ torch-eval

    /// <summary>
    /// The <c>torch-eval</c> command: loads an adapter folder (adapters + head, as <c>train_ddp.py</c> saves it) onto the plain
    /// pretrained encoder, classifies the test e-mails of a <c>torch-data</c> file and prints the accuracy; with <c>--logits</c>,
    /// also how far its logits are from PyTorch's (<c>train_ddp.py --eval-logits</c>).
    /// </summary>
    public static int Eval(CommandLine cl, IAnsiConsole console)
    {
        if (!TextCommands.TryReadOptions(cl, console, "torch-eval",
            "SpamFilter torch-eval: score an adapter folder trained by python/train_ddp.py (adapters + head) on the test e-mails of a `torch-data` file, in .NET.", () =>
        {
            var adapters = cl.String("adapters", DefaultOut + "/trained", "the adapter folder train_ddp.py wrote (--out)");
            var data = cl.String("data", DefaultOut + "/" + DataFile, "the file `torch-data` wrote (eval_inputs, eval_attention_mask, eval_targets)");
            var cache = cl.String("cache", "artifacts/cache", "folder of the converted checkpoint");
            var logits = cl.String("logits", "", "PyTorch's logits on the same e-mails (train_ddp.py --eval-logits) to compare with; empty: no comparison");
            int batch = cl.Int("batch", 32, "e-mails per forward pass");
            int threads = cl.Int("threads", 0, "torch CPU threads (0: one per core)");
            if (batch < 1) throw new ArgumentException("--batch must be at least 1.");
            return new EvalOptions(adapters, data, cache, logits, batch, threads);
        }, out var o, out int exit)) return exit;
        if (o.Threads > 0) set_num_threads(o.Threads);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        SafeTensorsFile? pytorch = null;
        try
        {
            using var data = LoadFile(o.Data, "--data", "run `torch-data` first");
            var ids = Required(data, o.Data, "eval_inputs");
            var mask = Required(data, o.Data, "eval_attention_mask");
            var targets = Required(data, o.Data, "eval_targets");
            if (o.Logits.Length > 0) pytorch = LoadFile(o.Logits, "--logits", "pass the file train_ddp.py wrote with --eval-logits");
            var checkpoint = OnnxCheckpoint.Ensure(Path.Combine(o.Cache, "minilm"), m => console.MarkupLineInterpolated($"[grey]{m}[/]"));
            var config = AdapterFile.ReadConfig(o.Adapters);
            using var model = TextClassifierModel.FromFolder(checkpoint, 2, o.Adapters);
            var logits = Logits(model, ids, mask, o.Batch);
            var predicted = logits.argmax(-1);
            long n = targets.shape[0];
            var report = ClassReport.Of(new[] { "ham", "spam" }, targets.cpu().data<long>().Select(t => (int)t).ToArray(), predicted.cpu().data<long>().Select(p => (int)p).ToArray());
            console.MarkupLineInterpolated($"{o.Adapters}: {config.Library} {config.LibraryVersion}, {config.Targets.Count} SingLoRA layers at ramp step {config.Step}, modules_to_save [[{string.Join(", ", config.ModulesToSave)}]].");
            console.MarkupLineInterpolated($"Test split in .NET: {n:N0} e-mails ({report.Support(1):N0} spam): accuracy [bold]{report.Accuracy:P1}[/], spam F1 {report.F1(1):0.000} ({watch.Elapsed.TotalSeconds:0} s).");
            if (pytorch is not null)
            {
                var reference = Required(pytorch, o.Logits, "logits");
                if (!reference.shape.SequenceEqual(logits.shape))
                    throw new InvalidOperationException($"{o.Logits} holds logits of shape [{string.Join(", ", reference.shape)}], not [{string.Join(", ", logits.shape)}]: it was written for other e-mails.");
                double relative = (logits - reference).abs().max().item<float>() / (double)reference.abs().max().item<float>();
                long agree = predicted.eq(reference.argmax(-1)).sum().item<long>();
                console.MarkupLineInterpolated($"Against PyTorch's logits ({o.Logits}): max relative difference {relative:0.0e+0} (max |Δ| / max |logit|); predictions agree on {agree:N0} of {n:N0}.");
            }
        }
        catch (Exception e) when (e is AdapterLoadException or InvalidOperationException or FileNotFoundException or SafeTensorsFormatException)
        {
            console.MarkupLineInterpolated($"[red]{e.Message}[/]");
            return 1;
        }
        finally
        {
            pytorch?.Dispose();
        }
        return 0;
    }

    /// <summary>The classifier's logits for padded token ids and their mask (<c>[N, L]</c>), <paramref name="batch"/> rows at a time, in evaluation mode without gradients (CPU, <c>[N, classes]</c>).</summary>
    public static Tensor Logits(SpamClassifier model, Tensor ids, Tensor mask, int batch)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        model.eval();
        using var noGrad = no_grad();
        var parts = new List<Tensor>();
        for (long start = 0; start < ids.shape[0]; start += batch)
        {
            using var step = NewDisposeScope();
            long rows = Math.Min(batch, ids.shape[0] - start);
            parts.Add(model.forward(ids.narrow(0, start, rows), mask.narrow(0, start, rows)).cpu().MoveToOuterDisposeScope());
        }
        return cat(parts, 0);
    }

    private static SafeTensorsFile LoadFile(string path, string option, string fix) =>
        File.Exists(path) ? SafeTensors.Load(path) : throw new FileNotFoundException($"{path} does not exist ({option}): {fix}.", path);

    private static Tensor Required(SafeTensorsFile file, string path, string name) =>
        file.Tensors.TryGetValue(name, out var t) ? t.clone()
            : throw new InvalidOperationException($"{path} has no tensor '{name}' (it holds {string.Join(", ", file.Names)}); write it with `torch-data`.");
}
