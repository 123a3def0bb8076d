using System;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using SingLoRA.AdapterFiles;
using SingLoRA.Tests.AdapterFiles;
using Xunit;
using Xunit.Abstractions;

namespace SingLoRA.Tests.SpamFilter;

/// <summary>
/// The SpamFilter on PyTorch's distributed engine, at a size CI affords (32 training e-mails, 16 test e-mails, 16 tokens,
/// 3 steps): <c>torch-data</c> writes the hand-off files, <c>torchrun --nproc_per_node 2</c> (gloo, CPU) trains the
/// adapters and the head with <c>python/train_ddp.py</c> and the twin <c>python/minilm_twin.py</c>, one plain process
/// trains the same for comparison, and <c>torch-eval</c> scores the result in .NET and reproduces PyTorch's logits.
/// The full-size run is in docs/distributed.md. Runs where /usr/bin/python3 has torch.
/// </summary>
public class TorchrunSpamFilterTests(ITestOutputHelper output)
{
    private const int Steps = 3;

    private static (int Code, string Console) Run(params string[] args)
    {
        var (console, text) = SpamFilterSmokeTests.CaptureConsole();
        int code = global::SpamFilter.SpamFilterApp.Run(args, console);
        return (code, text.ToString());
    }

    private static double Number(string text, string pattern) =>
        double.Parse(Regex.Match(text, pattern).Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture);

    [PythonTorchFact]
    public void The_classifier_trains_under_torchrun_with_two_processes_and_DotNet_scores_what_comes_back()
    {
        var dir = Directory.CreateTempSubdirectory("singlora-torchrun-spam-").FullName;
        try
        {
            var data = Run("torch-data", "--cache", RealModelCache.Root, "--out", dir, "--train", "32", "--test", "16", "--max-tokens", "16", "--ramp-steps", "2");
            Assert.True(data.Code == 0, data.Console);
            Assert.Contains("python/train_ddp.py --model minilm_twin:SpamClassifier", data.Console);
            Assert.Contains("32 training e-mails", data.Console);
            var start = AdapterFile.ReadConfig(Path.Combine(dir, "start"));
            Assert.Equal(new[] { "classifier" }, start.ModulesToSave);
            Assert.Equal(18, start.Targets.Count);

            // The same global batch of 8 e-mails per step over two gloo processes and in one plain process; dropout 0 makes
            // the two comparable (with dropout each process draws its own masks).
            string[] Args(string name) => new[]
            {
                Path.Combine(PythonProcess.Package, "train_ddp.py"), "--model", "minilm_twin:SpamClassifier", "--model-args", """{"dropout": 0}""",
                "--base", RealModelCache.Checkpoint, "--base-loader", "minilm_twin:load_encoder",
                "--adapters", Path.Combine(dir, "start"), "--data", Path.Combine(dir, "data.safetensors"), "--out", Path.Combine(dir, name),
                "--steps", $"{Steps}", "--global-batch", "8", "--lr", "1e-3", "--head-lr", "3e-3", "--log-every", "1",
                "--eval-logits", Path.Combine(dir, name + ".logits.safetensors"),
            };
            var ddp = PythonProcess.Torchrun(output, 2, Args("ddp"));
            Assert.Contains("2 process(es) on cpu (gloo)", ddp);
            Assert.Contains("classifier (770 values) at lr 0.003", ddp);
            PythonProcess.Run(output, Args("single"));

            // The ramp counted the optimizer steps, and the head came back as a module to save.
            var trained = AdapterFile.ReadConfig(Path.Combine(dir, "ddp"));
            Assert.Equal(Steps, trained.Step);
            Assert.All(trained.Targets, t => Assert.Equal(Steps, t.Step));
            Assert.Equal(new[] { "classifier" }, trained.ModulesToSave);

            // Two processes and one give the same adapters and head (float32 rounding of the gradient sums); and they trained.
            using (var two = SafeTensors.Load(Path.Combine(dir, "ddp", AdapterFile.WeightsFileName)))
            using (var one = SafeTensors.Load(Path.Combine(dir, "single", AdapterFile.WeightsFileName)))
            using (var initial = SafeTensors.Load(Path.Combine(dir, "start", AdapterFile.WeightsFileName)))
            {
                var keys = two.Names.Where(k => k.EndsWith(".singlora_A", StringComparison.Ordinal) || k == "classifier.weight").ToList();
                Assert.Equal(19, keys.Count);
                double ddpVsSingle = keys.Max(k => (two.Tensors[k] - one.Tensors[k]).abs().max().item<float>() / (double)one.Tensors[k].abs().max().item<float>());
                double moved = keys.Min(k => (two.Tensors[k] - initial.Tensors[k]).abs().max().item<float>());
                output.WriteLine($"After {Steps} steps, 2 processes vs 1: max relative difference {ddpVsSingle:0.0e+0} (max |Δ| / max |value| per tensor); smallest change of a tensor: {moved:0.0e+0}");
                // Measured 7e-5: Adam divides each gradient by its own size, so the rounding of near-cancelling gradient sums
                // shows; one process with --grad-accum 2 (the same split of the batch, no DDP) differs from --grad-accum 1 by
                // the same 7e-5. A wrong split of the batch would differ by the size of the update (about 5e-2 of A).
                Assert.True(ddpVsSingle <= 5e-4, $"DDP and single-process adapters differ by {ddpVsSingle:e2} (relative)");
                Assert.True(moved > 1e-4, "PyTorch did not change every adapter and the head");
            }

            // .NET scores the folder torchrun wrote on the test e-mails and computes PyTorch's logits.
            var eval = Run("torch-eval", "--cache", RealModelCache.Root, "--adapters", Path.Combine(dir, "ddp"), "--data", Path.Combine(dir, "data.safetensors"),
                "--logits", Path.Combine(dir, "ddp.logits.safetensors"));
            output.WriteLine(eval.Console);
            Assert.True(eval.Code == 0, eval.Console);
            Assert.Contains($"singlora-python 0.1.0, 18 SingLoRA layers at ramp step {Steps}", eval.Console);
            Assert.Matches(@"Test split in \.NET: 16 e-mails \(\d+ spam\): accuracy \d+(\.\d)? %", eval.Console);
            Assert.Contains("predictions agree on 16 of 16", eval.Console);
            double relative = Number(eval.Console, @"max relative difference ([0-9.e+-]+)");
            Assert.True(relative <= 1e-5, $".NET's logits differ from PyTorch's by {relative:e2} (relative)");

            // A folder that is not there is refused with the reason.
            var missing = Run("torch-eval", "--cache", RealModelCache.Root, "--adapters", Path.Combine(dir, "nothing"), "--data", Path.Combine(dir, "data.safetensors"));
            Assert.Equal(1, missing.Code);
            Assert.Contains("adapter_config.json", missing.Console);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
