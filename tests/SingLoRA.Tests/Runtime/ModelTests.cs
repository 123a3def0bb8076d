using System;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Runtime;

/// <summary>Model-level operations over hand-wired adapters (the generated code calls the same methods).</summary>
public class ModelTests
{
    private sealed class Block : nn.Module<Tensor, Tensor>
    {
        private readonly SingLoRALinear q, k;
        private readonly LoRALinear o;

        public Block(int d) : base(nameof(Block))
        {
            q = new SingLoRALinear(nn.Linear(d, d), new SingLoRAOptions(2, RampLength: 10));
            k = new SingLoRALinear(nn.Linear(d, d), new SingLoRAOptions(2, RampLength: 10));
            o = new LoRALinear(nn.Linear(d, d), new LoRAOptions(2));
            RegisterComponents();
        }

        public SingLoRALinear Q => q;

        public override Tensor forward(Tensor x) => o.forward(q.forward(x) + k.forward(x));
    }

    private static Sequential Model() => nn.Sequential(("b0", new Block(8)), ("b1", new Block(8)));

    [Fact]
    public void Adapters_are_found_by_path_through_nested_modules()
    {
        using var scope = NewDisposeScope();
        var model = Model();
        Assert.Equal(new[] { "b0.q", "b0.k", "b1.q", "b1.k" }, model.GetSingLoRALayers().Select(a => a.Path));
        Assert.Equal(new[] { "b0.q", "b0.k", "b0.o", "b1.q", "b1.k", "b1.o" }, model.GetAdaptedLayers().Select(a => a.Path));
        Assert.Equal(4 * 8 * 2 + 2 * 16 * 2, model.AdapterParameters().Sum(p => p.numel()));
    }

    [Fact]
    public void A_module_that_registers_hand_made_adapters_gets_exactly_the_adapter_keys()
    {
        using var scope = NewDisposeScope();
        var block = new Block(8);
        var keys = block.state_dict().Keys.Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[]
        {
            "k.bias", "k.singlora_A", "k.singlora_step", "k.weight",
            "o.bias", "o.lora_A", "o.lora_B", "o.weight",
            "q.bias", "q.singlora_A", "q.singlora_step", "q.weight",
        }, keys);
        var fresh = new Block(8);
        fresh.load_state_dict(block.state_dict()); // strict
        Assert.True(Reference.Identical(fresh.Q.A, block.Q.A));
    }

    [Fact]
    public void Ramp_operations_reach_every_adapter()
    {
        using var scope = NewDisposeScope();
        var model = Model();
        model.AdvanceRamp();
        model.AdvanceRamp();
        Assert.All(model.GetSingLoRALayers(), a => Assert.Equal(2, a.Adapter.RampStep));
        Assert.Equal(0.2, model.RampValue(), 12);
        model.SetRampStep(30);
        Assert.Equal(1.0, model.RampValue());
        model.SetRampStep(3);
        ((Block)model.children().First()).Q.AdvanceRamp();
        Assert.Contains("disagree", Assert.Throws<InvalidOperationException>(() => model.RampValue()).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.SetRampStep(-2));
    }

    [Fact]
    public void Freeze_all_but_adapters_leaves_only_adapter_tensors_trainable()
    {
        using var scope = NewDisposeScope();
        var model = nn.Sequential(("pre", nn.Linear(8, 8)), ("b", new Block(8)));
        model.FreezeAllButAdapters();
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToArray();
        Assert.Equal(new[] { "b.q.singlora_A", "b.k.singlora_A", "b.o.lora_A", "b.o.lora_B" }, trainable);
        var summary = model.CountParameters();
        Assert.Equal(2 * 8 * 2 + 2 * 8 * 2, summary.Trainable);
        Assert.Equal(summary.Trainable + 4 * (64 + 8), summary.Total);
        Assert.Contains("trainable params: 64 || all params: 352 || trainable%: 18.1818", summary.ToString());
    }

    [Fact]
    public void Model_merge_unmerge_round_trip()
    {
        using var scope = NewDisposeScope();
        var model = Model();
        model.SetRampStep(5);
        foreach (var (_, l) in model.GetAdaptedLayers()) if (l is LoRALinear lora) using (no_grad()) lora.B.normal_(0, 0.1);
        model.eval();
        var x = randn(4, 8);
        var before = model.forward(x).detach().clone();
        var weights = model.GetAdaptedLayers().Select(l => l.Layer.weight.detach().clone()).ToArray();
        model.MergeAdapters();
        Assert.All(model.GetAdaptedLayers(), l => Assert.True(l.Layer.IsMerged));
        Assert.True(Reference.RelativeError(model.forward(x), before) < 1e-6);
        Assert.Throws<InvalidOperationException>(() => model.MergeAdapters());
        model.UnmergeAdapters();
        Assert.Throws<InvalidOperationException>(() => model.UnmergeAdapters());
        var layers = model.GetAdaptedLayers();
        for (int i = 0; i < layers.Count; i++)
            Assert.True(Reference.RelativeError(layers[i].Layer.weight, weights[i]) < 1e-6);
        model.SafeMergeAdapters();
        Assert.True(Reference.RelativeError(model.forward(x), before) < 1e-6);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_failing_layer_leaves_every_layer_of_the_model_unmerged_and_untouched(bool safe)
    {
        using var scope = NewDisposeScope();
        var model = Model();
        model.SetRampStep(5);
        var last = model.GetSingLoRALayers().Last().Adapter;
        using (no_grad()) last.A[0, 0] = tensor(float.PositiveInfinity);
        var weights = model.GetAdaptedLayers().Select(l => l.Layer.weight.detach().clone()).ToArray();
        var e = Assert.Throws<InvalidOperationException>(() => { if (safe) model.SafeMergeAdapters(); else model.MergeAdapters(); });
        Assert.Contains("non-finite", e.Message);
        var layers = model.GetAdaptedLayers();
        for (int i = 0; i < layers.Count; i++)
        {
            Assert.False(layers[i].Layer.IsMerged);
            Assert.True(Reference.RelativeError(layers[i].Layer.weight, weights[i]) < 1e-6);
        }
    }

    [Fact]
    public void A_model_without_adapters_gives_clear_errors()
    {
        using var scope = NewDisposeScope();
        var plain = nn.Linear(4, 4);
        Assert.Empty(plain.GetSingLoRALayers());
        Assert.Contains("no adapted layers", Assert.Throws<InvalidOperationException>(() => plain.MergeAdapters()).Message);
        Assert.Contains("no SingLoRA adapters", Assert.Throws<InvalidOperationException>(() => plain.RampValue()).Message);
    }
}
