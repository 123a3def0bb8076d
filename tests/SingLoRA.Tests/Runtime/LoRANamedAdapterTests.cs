using System;
using System.IO;
using System.Linq;
using SingLoRA.AdapterFiles;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace SingLoRA.Tests.Runtime;

/// <summary>
/// Every adapter kind holds its adapters by name (issue 19, item 1): the LoRA baseline adds, switches, deletes, saves and
/// loads named adapters exactly as SingLoRA does, through the same model-level calls and files.
/// </summary>
public class LoRANamedAdapterTests
{
    private sealed class TwoLayers : Module<Tensor, Tensor>
    {
        private readonly Module<Tensor, Tensor> first, second;

        public TwoLayers() : base(nameof(TwoLayers))
        {
            first = new LoRALinear(Linear(6, 6), new LoRAOptions(Rank: 2));
            second = new LoRALinear(Linear(6, 3), new LoRAOptions(Rank: 2));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => second.forward(first.forward(x).tanh());
    }

    private static void Randomize(Module model)
    {
        using var _ = torch.no_grad();
        foreach (var p in model.AdapterParameters()) p.normal_(0, 0.5);
    }

    [Fact]
    public void A_LoRA_layer_adds_switches_and_deletes_named_adapters_like_SingLoRA()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(1);
        var model = new TwoLayers();
        model.FreezeAllButAdapters();
        Randomize(model);
        var x = torch.randn(4, 6);
        var withDefault = model.forward(x).detach().clone();

        model.AddAdapter("other");
        Assert.Equal(new[] { "default", "other" }, model.AdapterNames());
        Assert.Contains("first.lora_B@other", model.state_dict().Keys);
        // The new adapter's B is zero: activating it gives the base model's output.
        model.SetActiveAdapter("other");
        Assert.Equal("other", model.ActiveAdapter());
        Tensor plain;
        using (model.DisableAdapters()) plain = model.forward(x).detach().clone();
        Assert.True(model.forward(x).allclose(plain));
        Assert.False(model.forward(x).allclose(withDefault));
        // Only the active adapter trains: A [2, 6] and B [6, 2], then A [2, 6] and B [3, 2].
        Assert.Equal(2 * 6 + 6 * 2 + 2 * 6 + 3 * 2, model.CountParameters().Trainable);

        model.SetActiveAdapter("default");
        Assert.True(model.forward(x).allclose(withDefault));
        model.DeleteAdapter("other");
        Assert.DoesNotContain(model.state_dict().Keys, k => k.Contains('@'));
    }

    [Fact]
    public void A_LoRA_adapter_file_loads_into_a_new_name()
    {
        using var scope = torch.NewDisposeScope();
        var dir = Path.Combine(Path.GetTempPath(), "singlora-lora-named-" + Guid.NewGuid().ToString("N"));
        try
        {
            torch.manual_seed(2);
            var source = new TwoLayers();
            source.FreezeAllButAdapters();
            Randomize(source);
            source.SaveAdapters(dir);

            torch.manual_seed(3);
            var target = new TwoLayers();
            target.LoadAdapters(dir, adapterName: "loaded");
            Assert.Equal(new[] { "default", "loaded" }, target.AdapterNames());
            target.SetActiveAdapter("loaded");
            var a = source.GetAdaptedLayers().SelectMany(l => l.Layer.AdapterParameters).ToList();
            var b = target.GetAdaptedLayers().SelectMany(l => l.Layer.AdapterParameters).ToList();
            Assert.All(a.Zip(b), p => Assert.True(p.First.eq(p.Second).all().item<bool>()));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
