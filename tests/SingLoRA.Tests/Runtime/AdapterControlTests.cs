using System;
using System.Diagnostics;
using System.Linq;
using SingLoRA.Tests.Generated;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Runtime;

/// <summary>Switching adapters off, several named adapters on one base, and moves after an optimizer exists.</summary>
public class AdapterControlTests
{
    /// <summary>An adapted model and its plain twin with the same base weights; the adapters at full ramp, with random A.</summary>
    private static (TinyTransformer Adapted, TinyTransformer Plain, Tensor Tokens) Twins()
    {
        manual_seed(17);
        var plain = new TinyTransformer(adapted: false);
        var adapted = new TinyTransformer(adapted: true);
        adapted.load_state_dict(plain.state_dict(), strict: false);
        adapted.SetRampStep(100);   // u = 1: the random adapters change the output
        return (adapted, plain, randint(0, TinyTransformer.Vocab, new long[] { 3, 7 }));
    }

    [Fact]
    public void Disabled_adapters_give_the_base_model_bit_for_bit_and_come_back_after_the_scope()
    {
        using var scope = NewDisposeScope();
        var (adapted, plain, tokens) = Twins();
        var withAdapters = adapted.forward(tokens).detach();
        var baseline = plain.forward(tokens).detach();
        Assert.False(Reference.Identical(withAdapters, baseline));

        using (adapted.DisableAdapters())
        {
            Assert.True(Reference.Identical(adapted.forward(tokens), baseline));
            Assert.All(adapted.GetAdaptedLayers(), l => Assert.False(l.Layer.AdapterEnabled));
            using (adapted.DisableAdapters(path => path.Contains("attention"))) { }   // nested: restores "off"
            Assert.True(Reference.Identical(adapted.forward(tokens), baseline));
        }
        Assert.True(Reference.Identical(adapted.forward(tokens), withAdapters));

        // Chosen layers only: the MLP adapters stay on.
        using (adapted.DisableAdapters(path => !path.Contains(".mlp.")))
        {
            Assert.All(adapted.GetAdaptedLayers(), l => Assert.Equal(l.Path.Contains(".mlp."), l.Layer.AdapterEnabled));
            Assert.False(Reference.Identical(adapted.forward(tokens), baseline));
        }
    }

    [Fact]
    public void A_merged_model_cannot_be_switched_off()
    {
        using var scope = NewDisposeScope();
        var (adapted, _, _) = Twins();
        adapted.MergeAdapters();
        var e = Assert.Throws<InvalidOperationException>(() => adapted.DisableAdapters());
        Assert.Contains("UnmergeAdapters()", e.Message);
        Assert.All(adapted.GetAdaptedLayers(), l => Assert.True(l.Layer.AdapterEnabled));
    }

    [Fact]
    public void Two_named_adapters_on_one_base_each_give_their_own_outputs_and_ramps()
    {
        using var scope = NewDisposeScope();
        var (model, _, tokens) = Twins();
        var defaultOut = model.forward(tokens).detach();

        model.AddAdapter("legal", o => o with { Rank = 1, RampLength = 10 });
        Assert.Equal(new[] { "default", "legal" }, model.AdapterNames());
        Assert.Equal("default", model.ActiveAdapter());
        Assert.True(Reference.Identical(model.forward(tokens), defaultOut));   // adding does not activate
        Assert.Contains(model.state_dict().Keys, k => k.EndsWith(".q.singlora_A@legal", StringComparison.Ordinal));

        model.SetActiveAdapter("legal");
        Assert.All(model.GetSingLoRALayers(), a => Assert.Equal(1, a.Adapter.Rank));
        Assert.Equal(0, model.GetSingLoRALayers()[0].Adapter.RampStep);               // its own ramp: step 0, so u = 0
        Assert.True(Reference.Identical(model.forward(tokens), NoAdapterOutput(model, tokens)));
        model.SetRampStep(5);                                                  // u = 1/2 for "legal" only
        var legalOut = model.forward(tokens).detach();
        Assert.False(Reference.Identical(legalOut, defaultOut));

        model.SetActiveAdapter("default");
        Assert.Equal(100, model.GetSingLoRALayers()[0].Adapter.RampStep);
        Assert.True(Reference.Identical(model.forward(tokens), defaultOut));
        model.SetActiveAdapter("legal");
        Assert.True(Reference.Identical(model.forward(tokens), legalOut));

        // Only the active adapter trains: FreezeAllButAdapters and the optimizer see its A alone.
        model.FreezeAllButAdapters();
        Assert.All(model.AdapterParameters(), p => Assert.Equal(1, p.shape[1]));
        Assert.All(model.GetSingLoRALayers(), a => Assert.False(a.Adapter.AdapterMatrix("default").requires_grad));

        // Merge a chosen one, and switching is refused while merged.
        model.MergeAdapters("default");
        Assert.True((model.forward(tokens) - defaultOut).abs().max().item<float>() < 1e-5);
        Assert.Throws<InvalidOperationException>(() => model.SetActiveAdapter("legal"));
        model.UnmergeAdapters();

        Assert.Throws<InvalidOperationException>(() => model.DeleteAdapter("default"));   // active
        model.SetActiveAdapter("legal");
        model.DeleteAdapter("default");
        Assert.Equal(new[] { "legal" }, model.AdapterNames());
        Assert.DoesNotContain(model.state_dict().Keys, k => k.EndsWith(".singlora_A", StringComparison.Ordinal));
    }

    private static Tensor NoAdapterOutput(TinyTransformer model, Tensor tokens)
    {
        using var _ = model.DisableAdapters();
        return model.forward(tokens).detach();
    }

    [Fact]
    public void Adding_switching_and_deleting_are_all_or_nothing_with_clear_errors()
    {
        using var scope = NewDisposeScope();
        var (model, _, _) = Twins();
        Assert.Throws<ArgumentException>(() => model.AddAdapter("has space"));
        Assert.Throws<ArgumentException>(() => model.AddAdapter("9lives"));
        var tooBig = Assert.Throws<InvalidOperationException>(() => model.AddAdapter("big", o => o with { Rank = 9 }));   // width 8
        Assert.Contains("cannot take rank 9", tooBig.Message);
        Assert.Equal(new[] { "default" }, model.AdapterNames());
        var missing = Assert.Throws<InvalidOperationException>(() => model.SetActiveAdapter("nope"));
        Assert.Contains("has no adapter 'nope'", missing.Message);
        Assert.Equal("default", model.ActiveAdapter());
        model.AddAdapter("b");
        Assert.Throws<InvalidOperationException>(() => model.AddAdapter("b"));
    }

    [Fact]
    public void An_optimizer_made_before_a_move_keeps_training_the_same_adapter_tensors()
    {
        using var scope = NewDisposeScope();
        manual_seed(4);
        var layer = new SingLoRALinear(nn.Linear(16, 16), new SingLoRAOptions(4, RampLength: 0));
        var a = layer.A;
        var optimizer = optim.AdamW(layer.AdapterParameters, lr: 1e-2);

        layer.to(ScalarType.BFloat16);   // the base becomes bf16; A stays the float32 master ...
        CudaLikeMove.Apply(layer);        // ... and the layer moves as on a GPU
        Assert.Same(a, layer.A);          // ... in place: the optimizer's tensor is still the layer's
        Assert.Equal(ScalarType.Float32, layer.A.dtype);

        var before = layer.A.detach().clone();
        var loss = layer.forward(randn(8, 16).to_type(ScalarType.BFloat16)).to_type(ScalarType.Float32).square().mean();
        optimizer.zero_grad();            // TorchSharp's own modules fail here with "empty handle": they replace their parameters
        loss.backward();
        optimizer.step();
        Assert.False(Reference.Identical(layer.A, before));
    }

    [Fact]
    public void A_move_that_changes_the_dtype_of_A_replaces_it()
    {
        using var scope = NewDisposeScope();
        var layer = new SingLoRALinear(nn.Linear(16, 16), new SingLoRAOptions(4));
        var a = layer.A;
        layer.to(ScalarType.Float64);
        Assert.NotSame(a, layer.A);       // documented: build the optimizer after such a move
        Assert.Equal(ScalarType.Float64, layer.A.dtype);
        Assert.Contains(layer.named_parameters(), p => ReferenceEquals(p.parameter, layer.A));
    }

    [Fact]
    public void Switching_adapters_copies_nothing()
    {
        using var scope = NewDisposeScope();
        manual_seed(6);
        var layer = new SingLoRALinear(nn.Linear(64, 64), new SingLoRAOptions(8));
        layer.AddAdapter("other", new SingLoRAOptions(8));
        var a = layer.AdapterMatrix("default");
        var other = layer.AdapterMatrix("other");
        layer.SetActiveAdapter("other");
        Assert.Same(other, layer.A);
        layer.SetActiveAdapter("default");
        Assert.Same(a, layer.A);
    }
}
