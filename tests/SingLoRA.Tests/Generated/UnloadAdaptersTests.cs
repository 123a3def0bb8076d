using System;
using System.Linq;
using SingLoRA.AdapterFiles;
using SingLoRA.TestModels;
using SingLoRA.Tests.AdapterFiles;
using SingLoRA.Tests.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Generated;

/// <summary><c>model.UnloadAdapters(path =&gt; ...)</c>: choosing adapted layers by module path after construction (PEFT's <c>unload()</c>).</summary>
public class UnloadAdaptersTests
{
    private static bool InBlock0(string path) => path.StartsWith("blocks.0.", StringComparison.Ordinal);

    [Fact]
    public void Unloading_by_path_leaves_those_layers_plain_with_no_keys_and_the_output_of_the_model_with_them_disabled()
    {
        using var scope = NewDisposeScope();
        manual_seed(41);
        var model = new TinyTransformer(adapted: true);
        model.SetRampStep(4);
        var tokens = randint(0, TinyTransformer.Vocab, new long[] { 2, 5 });
        Tensor expected;
        using (model.DisableAdapters(InBlock0)) expected = model.forward(tokens).detach();
        var before = model.GetSingLoRALayers().Select(a => a.Path).ToList();

        var unloaded = model.UnloadAdapters(InBlock0);

        Assert.Equal(before.Where(InBlock0), unloaded);
        Assert.Equal(before.Where(p => !InBlock0(p)), model.GetSingLoRALayers().Select(a => a.Path));
        Assert.DoesNotContain(model.state_dict().Keys, k => InBlock0(k) && k.Contains("singlora"));
        Assert.True(Reference.Identical(model.forward(tokens), expected));
        // Block 0's attention intercepts Linear calls (now routed to the plain layer); its typed property says the adapter is gone.
        var attention = (LinearAttention)model.Blocks[0].Attention;
        Assert.Empty(attention.Adapters);
        Assert.Contains("no SingLoRA adapter", Assert.Throws<InvalidOperationException>(() => attention.QAdapter).Message);

        // Nothing unloaded is left in the model: its parameters are the plain model's plus the 3 remaining adapters' A.
        Assert.Equal(new TinyTransformer(adapted: false).parameters().Count() + 3, model.parameters().Count());
        Assert.Equal(3, model.AdapterParameters().Count());
        Assert.Empty(model.UnloadAdapters(InBlock0));               // nothing left to unload there
    }

    [Fact]
    public void Unloading_everything_gives_the_base_model_with_the_plain_models_keys_and_output()
    {
        using var scope = NewDisposeScope();
        manual_seed(42);
        var model = new TinyTransformer(adapted: true);
        var plain = new TinyTransformer(adapted: false);
        plain.load_state_dict(model.state_dict().Where(kv => !kv.Key.Contains("singlora")).ToDictionary(kv => kv.Key, kv => kv.Value), strict: true);
        model.SetRampStep(4);
        var tokens = randint(0, TinyTransformer.Vocab, new long[] { 2, 5 });

        Assert.Equal(6, model.UnloadAdapters().Count);

        Assert.Empty(model.GetAdaptedLayers());
        Assert.Equal(plain.state_dict().Keys.OrderBy(k => k), model.state_dict().Keys.OrderBy(k => k));
        Assert.True(Reference.Identical(model.forward(tokens), plain.forward(tokens)));
        // A swapped (Module-typed) field holds its plain Linear again.
        Assert.IsType<TorchSharp.Modules.Linear>(typeof(ModuleAttention).GetField("q", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(model.Blocks[1].Attention));
    }

    [Fact]
    public void A_merged_layer_is_refused_and_nothing_changes()
    {
        using var scope = NewDisposeScope();
        var model = new TinyTransformer(adapted: true);
        model.Blocks[1].Attention.GetSingLoRALayers()[0].Adapter.Merge();
        var e = Assert.Throws<InvalidOperationException>(() => model.UnloadAdapters());
        Assert.Contains("is merged", e.Message);
        Assert.Contains("UnmergeAdapters()", e.Message);
        Assert.Equal(6, model.GetSingLoRALayers().Count);
        Assert.All(model.AnnotatedModules, m => Assert.NotEmpty(m.Adapters));
    }

    [Fact]
    public void Adapters_added_at_run_time_unload_from_every_place_that_holds_them_and_can_be_added_again()
    {
        using var scope = NewDisposeScope();
        manual_seed(43);
        var model = new ForeignNet();
        var keys = model.state_dict().Keys.ToList();
        var x = randn(3, 5, 6);
        var original = model.forward(x).detach();
        var options = new SingLoRAOptions(Rank: 2, RampLength: 0);
        model.AddSingLoRA(new[] { "q_proj", "v_proj", "mlp.0", "heads.cls", "embed.0" }, options);
        Assert.False(Reference.Identical(model.forward(x), original));

        var unloaded = model.UnloadAdapters(p => p.StartsWith("blocks.", StringComparison.Ordinal));
        Assert.Equal(6, unloaded.Count);
        Assert.Equal(new[] { "embed.0", "heads.cls" }, model.GetSingLoRALayers().Select(a => a.Path));

        model.UnloadAdapters();
        Assert.Equal(keys, model.state_dict().Keys);
        Assert.True(Reference.Identical(model.forward(x), original));   // Sequential, ModuleList, ModuleDict and fields hold the plain layers again
        Assert.Equal(9, model.AddSingLoRA(new[] { "q_proj", "v_proj", "mlp.0", "mlp.2", "heads.cls" }, options).Adapted.Count);
    }

    [Fact]
    public void An_adapter_held_by_a_field_typed_SingLoRALinear_is_refused_by_name_and_nothing_changes()
    {
        using var scope = NewDisposeScope();
        var model = new Attn(4, new SingLoRAOptions(Rank: 2), ScalarType.Float32);
        var e = Assert.Throws<InvalidOperationException>(() => model.UnloadAdapters());
        Assert.Contains("UnloadAdapters changed nothing", e.Message);
        Assert.Contains("field Attn.q (SingLoRALinear)", e.Message);
        Assert.Equal(2, model.GetSingLoRALayers().Count);
    }

    [Fact]
    public void Adapter_files_of_a_model_with_unloaded_layers_load_into_a_model_unloaded_the_same_way()
    {
        using var scope = NewDisposeScope();
        using var dir = new TempDir();
        manual_seed(44);
        var source = new TinyTransformer(adapted: true);
        source.UnloadAdapters(InBlock0);
        source.SetRampStep(3);
        source.FreezeAllButAdapters();
        var tokens = randint(0, TinyTransformer.Vocab, new long[] { 2, 5 });
        var expected = source.forward(tokens).detach();
        var baseWeights = source.state_dict().Where(kv => !kv.Key.Contains("singlora")).ToDictionary(kv => kv.Key, kv => kv.Value);
        source.SaveAdapters(dir.Path);

        var target = new TinyTransformer(adapted: true);
        target.load_state_dict(baseWeights, strict: false);
        var before = target.forward(tokens).detach();
        var refused = Assert.Throws<AdapterLoadException>(() => target.LoadAdapters(dir.Path));   // the model still adapts block 0
        Assert.Contains(refused.Problems, p => p.StartsWith("The file adapts 3 layer(s) fewer than the model.") && p.Contains("UnloadAdapters"));
        Assert.True(Reference.Identical(target.forward(tokens), before));                          // nothing was loaded
        target.UnloadAdapters(InBlock0);
        target.LoadAdapters(dir.Path);
        Assert.True(Reference.Identical(target.forward(tokens), expected));
    }
}
