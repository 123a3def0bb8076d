using System;
using System.Linq;
using SingLoRA.AdapterFiles;
using SingLoRA.Tests.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Generated;

/// <summary>Annotated classes built without adapters, or with adapters on chosen layers of a stack only.</summary>
public class AdapterSelectionTests
{
    [Fact]
    public void An_annotated_model_built_without_adapters_is_the_plain_model_and_takes_a_merged_export_exactly()
    {
        using var scope = NewDisposeScope();
        manual_seed(12);
        var adapted = new TinyTransformer(adapted: true);
        adapted.SetRampStep(100);                                   // u = 1: the adapters change the output
        var tokens = randint(0, TinyTransformer.Vocab, new long[] { 2, 5 });
        var expected = adapted.forward(tokens).detach();
        var export = adapted.ExportMergedStateDict();

        TinyTransformer plain;
        using (SingLoRAOverrides.WithoutAdapters()) plain = new TinyTransformer(adapted: true);   // the same annotated classes

        Assert.Empty(plain.GetAdaptedLayers());
        Assert.All(plain.AnnotatedModules, m => Assert.Empty(m.Adapters));
        Assert.Equal(new TinyTransformer(adapted: false).state_dict().Keys.OrderBy(k => k), plain.state_dict().Keys.OrderBy(k => k));
        plain.load_state_dict(export, strict: true);
        // Intercepted Linear targets run their plain layer; swapped module targets keep it in the field.
        Assert.True((plain.forward(tokens) - expected).abs().max().item<float>() < 1e-5);

        var attention = plain.Blocks[0].Attention as LinearAttention;
        var e = Assert.Throws<InvalidOperationException>(() => attention!.QAdapter);
        Assert.Contains("built without adapters", e.Message);
    }

    [Fact]
    public void Layers_adapts_only_the_chosen_instances_of_a_stack_and_the_others_have_no_adapter_keys()
    {
        using var scope = NewDisposeScope();
        manual_seed(13);
        nn.Module<Tensor, Tensor> stack;
        using (SingLoRAOverrides.Layers(1, 3))
            stack = nn.Sequential(Enumerable.Range(0, 4).Select(_ => (nn.Module<Tensor, Tensor>)new LinearAttention(8)).ToArray());

        Assert.Equal(new[] { "1.q", "1.k", "3.q", "3.k" }, stack.GetSingLoRALayers().Select(a => a.Path));
        Assert.DoesNotContain(stack.state_dict().Keys, k => (k.StartsWith("0.") || k.StartsWith("2.")) && k.Contains("singlora"));
        stack.SetRampStep(4);
        var x = randn(2, 3, 8);
        var y = stack.forward(x);                                   // every block runs: 0 and 2 plainly, 1 and 3 adapted
        using (stack.DisableAdapters()) Assert.False(Reference.Identical(stack.forward(x), y));

        // Counting restarts in each scope, per annotated class.
        using (SingLoRAOverrides.Layers(0))
        {
            var first = new LinearAttention(8);
            var second = new LinearAttention(8);
            var mlp = new Mlp(8);
            Assert.Equal(2, first.Adapters.Count);
            Assert.Empty(second.Adapters);
            Assert.Single(mlp.Adapters);
        }
    }
}
