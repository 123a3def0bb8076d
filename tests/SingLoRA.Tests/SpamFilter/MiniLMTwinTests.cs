using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using SingLoRA.AdapterFiles;
using SingLoRA.Tests.AdapterFiles;
using SpamFilter;
using SpamFilter.Data;
using SpamFilter.MiniLM;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SingLoRA.Tests.SpamFilter;

/// <summary>
/// The C# SpamFilter classifier (all-MiniLM-L6-v2 port, SingLoRA on query/key/value, linear head) and its PyTorch twin
/// (<c>python/minilm_twin.py</c>) compute the same logits on real SpamAssassin e-mails from the same checkpoint and the same
/// adapter folder, in both directions: .NET saves (adapters + head as a module to save), PyTorch loads; PyTorch trains a few
/// steps and saves, .NET loads. Runs where /usr/bin/python3 has torch.
/// </summary>
public class MiniLMTwinTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-5;  // relative: max |a - b| / max |reference logit|, float32
    private const int Emails = 32, MaxTokens = 128, RampLength = 10;

    /// <summary>max |a - b| / max |reference|.</summary>
    private static double Relative(Tensor a, Tensor reference) => (a - reference).abs().max().item<float>() / (double)reference.abs().max().item<float>();

    [PythonTorchFact]
    public void The_CSharp_classifier_and_its_PyTorch_twin_give_the_same_logits_on_real_emails_both_ways()
    {
        var dir = Directory.CreateTempSubdirectory("singlora-minilm-twin-").FullName;
        try
        {
            var checkpoint = RealModelCache.Checkpoint;
            var tarball = SpamAssassin.EnsureTarball(Path.Combine(RealModelCache.Root, "spam-assassin"));
            var corpus = Corpus.Select(SpamAssassin.Load(tarball), 1, Emails, BertWordPiece.FromPackage(), MaxTokens);
            using (var scope = NewDisposeScope())
            {
                var (ids, mask) = corpus.Tokenizer.Batch(corpus.TestTokens);
                Assert.Equal(MaxTokens, ids.shape[1]);
                Assert.True(mask.sum().item<long>() < Emails * MaxTokens - 100, "the batch should hold padding");

                // .NET: adapters that do something (ramp finished, A scaled up from its initialisation) and a random head.
                manual_seed(3);
                var config = new SingLoRAConfig(new SingLoRAOptions(8, 8, RampLength)) { ModulesToSave = new[] { TextClassifierModel.Head } };
                using var model = TextClassifierModel.ForTraining(checkpoint, 2, config);
                model.SetRampStep(RampLength);
                using (no_grad())
                    foreach (var (name, p) in model.named_parameters().Where(kv => kv.name.EndsWith(".singlora_A", StringComparison.Ordinal)))
                        p.mul_(3);
                model.eval();
                Tensor logits, plain;
                using (no_grad())
                {
                    logits = model.forward(ids, mask);
                    using (model.DisableAdapters()) plain = model.forward(ids, mask);
                }
                double adapterEffect = Relative(logits, plain);
                output.WriteLine($"The adapters change .NET's logits by {adapterEffect:0.0e+0} relative");
                Assert.True(adapterEffect > 0.05, "the adapters should change the logits visibly, or the comparison proves nothing about them");
                model.SaveAdapters(Path.Combine(dir, "dotnet"), modulesToSave: new[] { TextClassifierModel.Head });
                var labels = tensor(corpus.Test.Select(e => e.IsSpam ? 1L : 0L).ToArray());
                SafeTensors.Save(Path.Combine(dir, "batch.safetensors"), new Dictionary<string, Tensor>
                {
                    ["input_ids"] = ids, ["attention_mask"] = mask, ["labels"] = labels, ["logits"] = logits,
                });
            }

            // PyTorch: the twin loads the encoder and the folder and compares (the script fails above 1e-5), then trains and saves.
            PythonProcess.Run(output, new[] { Path.Combine(PythonProcess.TestScripts, "minilm_twin_check.py"), dir, checkpoint }, timeoutSeconds: 300);

            // .NET loads PyTorch's folder onto the plain pretrained encoder (as `predict` does) and reproduces PyTorch's logits.
            using (var scope = NewDisposeScope())
            {
                var pytorchConfig = AdapterFile.ReadConfig(Path.Combine(dir, "pytorch"));
                Assert.Equal("singlora-python", pytorchConfig.Library);
                Assert.Equal(RampLength + 3, pytorchConfig.Step);
                using var served = TextClassifierModel.FromFolder(checkpoint, 2, Path.Combine(dir, "pytorch"));
                served.eval();
                using var batch = SafeTensors.Load(Path.Combine(dir, "batch.safetensors"));
                using var expected = SafeTensors.Load(Path.Combine(dir, "pytorch.logits.safetensors"));
                Tensor logits;
                using (no_grad()) logits = served.forward(batch.Tensors["input_ids"], batch.Tensors["attention_mask"]);
                double moved = (expected.Tensors["logits"] - batch.Tensors["logits"]).abs().max().item<float>();
                double relative = Relative(logits, expected.Tensors["logits"]);
                output.WriteLine($"PyTorch -> C#: logits of {Emails} e-mails x {MaxTokens} tokens, max relative difference {relative:0.0e+0} (PyTorch's training moved them by up to {moved:0.000})");
                Assert.True(moved > 0.01, "PyTorch's training should change the logits");
                Assert.True(relative <= Tolerance, $".NET's logits differ from PyTorch's by {relative:e2} relative");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
