using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using SingLoRA.AdapterFiles;
using SingLoRA.Samples;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SingLoRA.Tests.AdapterFiles;

/// <summary>
/// The twin model of <c>Python/twin_check.py</c>: <c>down</c> 12 → 5 (d_out &lt; d_in), <c>up</c> 5 → 9 without bias
/// (d_out &gt; d_in, alpha/sqrt(r), no ramp), <c>sq</c> 9 → 9 (Gaussian init, dropout), tanh between.
/// </summary>
internal sealed class TwinModel : nn.Module<Tensor, Tensor>
{
    private readonly SingLoRALinear down, up, sq;

    public TwinModel() : base(nameof(TwinModel))
    {
        down = new SingLoRALinear(nn.Linear(12, 5), new SingLoRAOptions(3, Alpha: 3, RampLength: 10));
        up = new SingLoRALinear(nn.Linear(5, 9, hasBias: false), new SingLoRAOptions(2, Alpha: 2, RampLength: 0, Scaling: ScalingRule.AlphaOverSqrtRank));
        sq = new SingLoRALinear(nn.Linear(9, 9), new SingLoRAOptions(4, RampLength: 20, Dropout: 0.1, Init: AdapterInit.Gaussian));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Layers(x)["sq"];

    /// <summary>Each layer's output, by the layer's name.</summary>
    public Dictionary<string, Tensor> Layers(Tensor x)
    {
        var a = down.forward(x);
        var b = up.forward(a.tanh());
        return new() { ["down"] = a, ["up"] = b, ["sq"] = sq.forward(b.tanh()) };
    }
}

/// <summary>
/// A model defined in C# and its twin defined in PyTorch (the <c>python/</c> package) compute the same outputs from the
/// same base weights and the same adapter folder, in both directions: C# saves, PyTorch loads; PyTorch saves, C# loads.
/// Square and both non-square orientations, mid-ramp, unmerged and merged. Runs where /usr/bin/python3 has torch.
/// </summary>
public class PyTorchTwinTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-5;  // relative: max |a - b| / max |b|, float32

    [PythonTorchFact]
    public void A_CSharp_model_and_its_PyTorch_twin_give_the_same_outputs_from_the_same_adapter_files()
    {
        var dir = Directory.CreateTempSubdirectory("singlora-twin-").FullName;
        try
        {
            using (var scope = NewDisposeScope())
            {
                manual_seed(11);
                var model = new TwinModel();
                using (no_grad()) foreach (var p in model.AdapterParameters()) p.normal_(0, 0.5);
                model.SetRampStep(7); // u = 0.7 (down), 1 (up: no ramp), 0.35 (sq)
                model.eval();
                var x = randn(6, 12);
                SafeTensors.Save(Path.Combine(dir, "base.safetensors"),
                    model.named_parameters().Where(p => !p.name.Contains("singlora", StringComparison.Ordinal)).Select(p => new KeyValuePair<string, Tensor>(p.name, p.parameter)));
                SafeTensors.Save(Path.Combine(dir, "x.safetensors"), new Dictionary<string, Tensor> { ["x"] = x });
                using (no_grad()) SafeTensors.Save(Path.Combine(dir, "cs_unmerged.safetensors"), model.Layers(x));
                model.SaveAdapters(Path.Combine(dir, "cs_unmerged"));
                model.MergeAdapters();
                using (no_grad()) SafeTensors.Save(Path.Combine(dir, "cs_merged.safetensors"), model.Layers(x));
                model.SaveAdapters(Path.Combine(dir, "cs_merged"));
                model.Dispose();
            }

            var stdout = PythonProcess.Run(output, new[] { Path.Combine(PythonProcess.TestScripts, "twin_check.py"), dir });
            Assert.Equal(9, stdout.Split('\n').Count(l => l.StartsWith("C# -> PyTorch", StringComparison.Ordinal)));
            Assert.Equal(2, stdout.Split('\n').Count(l => l.Contains("byte-identical, config equal", StringComparison.Ordinal)));

            // PyTorch wrote folders of its own (step 9, A changed; unmerged and merged): C# loads them and computes PyTorch's outputs.
            foreach (var state in new[] { "unmerged", "merged" })
            {
                using var scope = NewDisposeScope();
                using var fresh = new TwinModel();
                fresh.LoadPretrained(Path.Combine(dir, "base.safetensors"));
                fresh.eval();
                fresh.LoadAdapters(Path.Combine(dir, $"py_{state}"));
                Assert.All(fresh.GetSingLoRALayers(), a => Assert.Equal(9, a.Adapter.RampStep));
                Assert.All(fresh.GetSingLoRALayers(), a => Assert.Equal(state == "merged", a.Adapter.IsMerged));
                using var expected = SafeTensors.Load(Path.Combine(dir, $"py_{state}.safetensors"));
                using var _ = no_grad();
                var ours = fresh.Layers(LoadX(dir));
                foreach (var (name, orientation) in new[] { ("down", "d_out < d_in"), ("up", "d_out > d_in"), ("sq", "square") })
                {
                    double rel = (ours[name] - expected.Tensors[name]).abs().max().item<float>() / expected.Tensors[name].abs().max().item<float>();
                    output.WriteLine($"PyTorch -> C#, {state}, step 9, {name} ({orientation}): max relative difference {rel:0.0e+0}");
                    Assert.True(rel <= Tolerance, $"{state} {name}: relative difference {rel:e2} exceeds {Tolerance:e0}");
                }
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static Tensor LoadX(string dir)
    {
        using var file = SafeTensors.Load(Path.Combine(dir, "x.safetensors"));
        return file.Tensors["x"].clone();
    }
}
