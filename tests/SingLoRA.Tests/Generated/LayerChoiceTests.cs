using System;
using System.Linq;
using SingLoRA.Tests.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace SingLoRA.Tests.Generated;

/// <summary>
/// A decoder layer as Hugging Face ports write it: it is told its position (<c>layer_idx</c>) when built, and the
/// attribute adapts layers 1, 3 and 4 only. <c>q_proj</c> is a <c>Linear</c> (intercepted), <c>v_proj</c> a
/// <c>Module&lt;Tensor, Tensor&gt;</c> (swapped), so both ways a layer is left plain are exercised.
/// </summary>
[SingLoRA(Rank = 2, Targets = "q_proj,v_proj", RampLength = 4, LayerIndex = nameof(layer_idx), Layers = "1, 3-4")]
public partial class IndexedLayer : Module<Tensor, Tensor>
{
    public readonly int layer_idx;
    private readonly Linear q_proj;
    private readonly Module<Tensor, Tensor> v_proj;

    public IndexedLayer(long d, int layerIdx) : base(nameof(IndexedLayer))
    {
        layer_idx = layerIdx;
        q_proj = Linear(d, d);
        v_proj = Linear(d, d);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => x + q_proj.forward(x).tanh() + v_proj.call(x);
}

/// <summary>A layer that names its index (a property) but no <c>Layers</c>: every layer is adapted unless a run-time scope chooses.</summary>
[SingLoRA(Rank = 2, Targets = "fc", RampLength = 4, LayerIndex = nameof(LayerIdx))]
public partial class IndexOnlyLayer : Module<Tensor, Tensor>
{
    private readonly Linear fc;

    public IndexOnlyLayer(long d, int layerIdx) : base(nameof(IndexOnlyLayer))
    {
        LayerIdx = layerIdx;
        fc = Linear(d, d);
        RegisterComponents();
    }

    public int LayerIdx { get; }

    public override Tensor forward(Tensor x) => fc.forward(x);
}

/// <summary>A decoder: its layers in a <c>ModuleList</c>, built in reverse so that construction order and <c>layer_idx</c> differ.</summary>
public sealed class IndexedDecoder : Module<Tensor, Tensor>
{
    private readonly ModuleList<IndexedLayer> layers;

    public IndexedDecoder(int depth = 6) : base(nameof(IndexedDecoder))
    {
        layers = ModuleList(Enumerable.Range(0, depth).Reverse().Select(i => new IndexedLayer(4, i)).OrderBy(l => l.layer_idx).ToArray());
        RegisterComponents();
    }

    public System.Collections.Generic.IReadOnlyList<IndexedLayer> Layers => layers.ToList();

    public override Tensor forward(Tensor x)
    {
        foreach (var layer in layers) x = layer.forward(x);
        return x;
    }
}

/// <summary>Choosing the adapted layers of a stack in the attribute (<c>LayerIndex</c> + <c>Layers</c>), and how run-time scopes combine with it.</summary>
public class LayerChoiceTests
{
    private static System.Collections.Generic.IReadOnlyList<IndexedLayer> Stack() => new IndexedDecoder().Layers;

    [Fact]
    public void The_attribute_adapts_only_the_layers_it_names_by_layer_idx_and_the_others_have_no_adapter_at_all()
    {
        using var scope = NewDisposeScope();
        manual_seed(31);
        var model = new IndexedDecoder();
        var stack = model.Layers;

        Assert.Equal(new[] { "layers.1.q_proj", "layers.1.v_proj", "layers.3.q_proj", "layers.3.v_proj", "layers.4.q_proj", "layers.4.v_proj" },
            model.GetSingLoRALayers().Select(a => a.Path));
        Assert.DoesNotContain(model.state_dict().Keys, k => k.Contains("singlora") && !(k.StartsWith("layers.1.") || k.StartsWith("layers.3.") || k.StartsWith("layers.4.")));
        foreach (var layer in stack)
            Assert.Equal(layer.layer_idx is 1 or 3 or 4 ? 2 : 0, layer.Adapters.Count);
        Assert.Throws<InvalidOperationException>(() => stack[0].QProjAdapter);
        Assert.Same(stack[3].QProjAdapter, stack[3].Adapters[0].Value);

        // A left-out layer computes its plain layers (both the intercepted Linear and the swapped field); adapted ones do not.
        IndexedDecoder plain;
        using (SingLoRAOverrides.WithoutAdapters()) plain = new IndexedDecoder();
        plain.load_state_dict(model.state_dict().Where(kv => !kv.Key.Contains("singlora")).ToDictionary(kv => kv.Key, kv => kv.Value), strict: true);
        model.SetRampStep(4);
        var x = randn(2, 3, 4);
        for (int i = 0; i < stack.Count; i++)
            Assert.Equal(i is not (1 or 3 or 4), Reference.Identical(stack[i].forward(x), plain.Layers[i].forward(x)));

        // Only the chosen layers train.
        model.FreezeAllButAdapters();
        Assert.Equal(6, model.parameters().Count(p => p.requires_grad));
    }

    [Fact]
    public void A_bare_ModuleList_whose_items_TorchSharp_has_not_registered_is_refused_instead_of_showing_no_adapters()
    {
        using var scope = NewDisposeScope();
        var bare = ModuleList(new IndexedLayer(4, 1), new IndexedLayer(4, 3));
        var e = Assert.Throws<InvalidOperationException>(() => bare.AdapterParameters().ToList());
        Assert.Contains("holds 2 module(s) that TorchSharp has not registered", e.Message);
        Assert.Throws<InvalidOperationException>(() => bare.FreezeAllButAdapters());
        var dict = ModuleDict<IndexedLayer>(("top", new IndexedLayer(4, 4)));
        Assert.Contains("holds 1 module(s) that TorchSharp has not registered", Assert.Throws<InvalidOperationException>(() => dict.GetSingLoRALayers()).Message);
        Assert.Equal(4, new IndexedDecoder(4).Layers.Sum(l => l.Adapters.Count));   // held by a module: registered, seen
        Assert.Empty(ModuleList<IndexedLayer>().GetSingLoRALayers());                       // an empty list is simply empty
    }

    [Fact]
    public void A_Layers_scope_replaces_the_attributes_choice_and_reads_layer_idx_not_construction_order()
    {
        using var scope = NewDisposeScope();
        System.Collections.Generic.IReadOnlyList<IndexedLayer> stack;
        using (SingLoRAOverrides.Layers(0, 5)) stack = Stack();
        Assert.Equal(new[] { 0, 5 }, stack.Where(l => l.Adapters.Count > 0).Select(l => l.layer_idx));

        using (SingLoRAOverrides.Layers(2)) stack = Stack();
        Assert.Equal(new[] { 2 }, stack.Where(l => l.Adapters.Count > 0).Select(l => l.layer_idx));

        // Written as the attribute writes it (what a command line passes), read by the same parser.
        using (SingLoRAOverrides.Layers("0, 4-5")) stack = Stack();
        Assert.Equal(new[] { 0, 4, 5 }, stack.Where(l => l.Adapters.Count > 0).Select(l => l.layer_idx));
        var e = Assert.Throws<ArgumentException>(() => SingLoRAOverrides.Layers("4-5, last"));
        Assert.StartsWith("Layers \"4-5, last\" has the entry 'last', which is neither an index (8) nor a range (0-3)", e.Message);
        using (SingLoRAOverrides.Layers("0-2147483647")) Assert.Equal(2, new IndexedLayer(4, int.MaxValue).Adapters.Count);   // ranges are not expanded

        // Nested Layers scopes must all choose a layer.
        using (SingLoRAOverrides.Layers(1, 2, 3))
        using (SingLoRAOverrides.Layers(3, 4))
            stack = Stack();
        Assert.Equal(new[] { 3 }, stack.Where(l => l.Adapters.Count > 0).Select(l => l.layer_idx));
    }

    [Fact]
    public void Option_scopes_keep_the_attributes_choice_and_WithoutAdapters_leaves_every_layer_out()
    {
        using var scope = NewDisposeScope();
        System.Collections.Generic.IReadOnlyList<IndexedLayer> stack;
        using (SingLoRAOverrides.Scope(o => o with { Rank = 3 })) stack = Stack();
        Assert.Equal(new[] { 1, 3, 4 }, stack.Where(l => l.Adapters.Count > 0).Select(l => l.layer_idx));
        Assert.All(stack.SelectMany(l => l.Adapters), a => Assert.Equal(3, a.Value.Options.Rank));

        using (SingLoRAOverrides.WithoutAdapters()) stack = Stack();
        Assert.All(stack, l => Assert.Empty(l.Adapters));
    }

    [Fact]
    public void A_class_with_LayerIndex_and_no_Layers_adapts_every_layer_unless_a_scope_chooses()
    {
        using var scope = NewDisposeScope();
        var all = Enumerable.Range(0, 4).Select(i => new IndexOnlyLayer(4, i)).ToList();
        Assert.All(all, l => Assert.Single(l.Adapters));

        System.Collections.Generic.List<IndexOnlyLayer> some;
        using (SingLoRAOverrides.Layers(3, 1))
            some = Enumerable.Range(0, 4).Reverse().Select(i => new IndexOnlyLayer(4, i)).ToList();
        Assert.Equal(new[] { 3, 1 }, some.Where(l => l.Adapters.Count > 0).Select(l => l.LayerIdx));
    }
}
