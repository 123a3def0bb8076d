using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using Quickstart;
using SingLoRA.AdapterFiles;
using SingLoRA.Samples;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SingLoRA.Tests.AdapterFiles;

/// <summary>
/// The scale-out round trip of the README ("When one machine is not enough") on a small quickstart model: .NET trains a
/// little and saves its adapters; <c>torchrun --nproc_per_node 2</c> (gloo, DistributedDataParallel) trains more with
/// <c>python/train_ddp.py</c> and saves; .NET loads the result and computes PyTorch's outputs. Runs where /usr/bin/python3
/// has torch.
/// </summary>
public class DistributedRoundTripTests(ITestOutputHelper output)
{
    private static readonly TransformerConfig Small = new(Vocab: 12, Length: 10, DModel: 16, Heads: 2, Layers: 2, Hidden: 32);
    private const string ModelArgs = """{"vocab": 12, "length": 10, "d_model": 16, "heads": 2, "layers": 2, "hidden": 32}""";
    private const int DotNetSteps = 2, PyTorchSteps = 3;

    private static TinyTransformer NewModel()
    {
        using var _ = SingLoRAOverrides.Scope(o => o with { Rank = 4, Alpha = 8, RampLength = 5 });
        return new TinyTransformer(Small, c => new AdaptedAttention(c));
    }

    [PythonTorchFact]
    public void Adapters_from_DotNet_train_under_torchrun_with_two_processes_and_load_back_with_the_same_outputs()
    {
        var dir = Directory.CreateTempSubdirectory("singlora-ddp-").FullName;
        try
        {
            var task = new CopyTask(Small.Vocab, Small.Length, Offset: 2);
            using (var scope = NewDisposeScope())
            {
                // .NET: the model, a couple of optimizer steps, then the hand-off files (base weights, adapters, data).
                manual_seed(5);
                using var model = NewModel();
                model.FreezeAllButAdapters();
                using var optimizer = optim.AdamW(model.AdapterParameters(), lr: 1e-2);
                using var data = Trainer.DataGenerator(7);
                Trainer.Train(model, optimizer, task, DotNetSteps, 8, data, CPU, afterStep: model.AdvanceRamp);
                SafeTensors.Save(Path.Combine(dir, "base.safetensors"), model.state_dict().Where(kv => !kv.Key.Contains(".singlora_", StringComparison.Ordinal)));
                model.SaveAdapters(Path.Combine(dir, "dotnet"));
                var (x, y) = task.Sample(32, data, CPU);
                var (ex, ey) = task.Sample(16, data, CPU);
                SafeTensors.Save(Path.Combine(dir, "data.safetensors"), new Dictionary<string, Tensor> { ["inputs"] = x, ["targets"] = y, ["eval_inputs"] = ex, ["eval_targets"] = ey });
            }

            // PyTorch: the same global batch of 8 rows per step, over two DDP processes (gloo) and in one plain process.
            string[] Args(string outDir) => new[]
            {
                Path.Combine(PythonProcess.Package, "train_ddp.py"), "--base", Path.Combine(dir, "base.safetensors"),
                "--adapters", Path.Combine(dir, "dotnet"), "--data", Path.Combine(dir, "data.safetensors"), "--out", Path.Combine(dir, outDir),
                "--steps", $"{PyTorchSteps}", "--global-batch", "8", "--lr", "0.01", "--log-every", "1", "--model-args", ModelArgs,
                "--eval-logits", Path.Combine(dir, outDir + ".logits.safetensors"),
            };
            var ddp = PythonProcess.Torchrun(output, 2, Args("ddp"));
            Assert.Contains("2 process(es) on cpu (gloo)", ddp);
            PythonProcess.Run(output, Args("single"));

            // The ramp step counts the optimizer steps taken on both sides.
            var config = AdapterFile.ReadConfig(Path.Combine(dir, "ddp"));
            Assert.Equal(DotNetSteps + PyTorchSteps, config.Step);
            Assert.All(config.Targets, t => Assert.Equal(DotNetSteps + PyTorchSteps, t.Step));

            // Two processes and one process with the same global batch give the same adapters (float32 rounding); and they trained.
            using (var two = SafeTensors.Load(Path.Combine(dir, "ddp", AdapterFile.WeightsFileName)))
            using (var one = SafeTensors.Load(Path.Combine(dir, "single", AdapterFile.WeightsFileName)))
            using (var start = SafeTensors.Load(Path.Combine(dir, "dotnet", AdapterFile.WeightsFileName)))
            {
                var keys = two.Names.Where(k => k.EndsWith(".singlora_A", StringComparison.Ordinal)).ToList();
                Assert.Equal(6, keys.Count);
                double ddpVsSingle = keys.Max(k => (two.Tensors[k] - one.Tensors[k]).abs().max().item<float>() / (double)one.Tensors[k].abs().max().item<float>());
                double moved = keys.Min(k => (two.Tensors[k] - start.Tensors[k]).abs().max().item<float>());
                output.WriteLine($"A after {PyTorchSteps} steps, 2 processes vs 1: max relative difference {ddpVsSingle:0.0e+0}; smallest change of a layer's A from the .NET start: {moved:0.0e+0}");
                Assert.True(ddpVsSingle <= 1e-5, $"DDP and single-process adapters differ by {ddpVsSingle:e2} (relative)");
                Assert.True(moved > 1e-3, "PyTorch did not change the adapters");
            }

            // .NET loads what PyTorch saved and computes PyTorch's outputs on the evaluation rows.
            using (var scope = NewDisposeScope())
            {
                using var served = NewModel();
                served.LoadPretrained(Path.Combine(dir, "base.safetensors"));
                served.LoadAdapters(Path.Combine(dir, "ddp"));
                Assert.All(served.GetSingLoRALayers(), a => Assert.Equal(DotNetSteps + PyTorchSteps, a.Adapter.RampStep));
                using var data = SafeTensors.Load(Path.Combine(dir, "data.safetensors"));
                using var expected = SafeTensors.Load(Path.Combine(dir, "ddp.logits.safetensors"));
                served.eval();
                using var _ = no_grad();
                var logits = served.forward(data.Tensors["eval_inputs"]);
                double rel = (logits - expected.Tensors["logits"]).abs().max().item<float>() / (double)expected.Tensors["logits"].abs().max().item<float>();
                output.WriteLine($".NET outputs with the adapters trained by torchrun vs PyTorch's: max relative difference {rel:0.0e+0}");
                Assert.True(rel <= 1e-5, $".NET and PyTorch outputs differ by {rel:e2} (relative)");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
