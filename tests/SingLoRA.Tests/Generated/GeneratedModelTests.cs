using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Generated;

/// <summary>
/// A small transformer built with the generator in this very compilation: it trains, merges, unmerges, saves and
/// loads, and accepts the checkpoint of its plain twin.
/// </summary>
public class GeneratedModelTests
{
    private static TinyTransformer Model(bool adapted = true, int seed = 1)
    {
        torch.manual_seed(seed);
        return new TinyTransformer(adapted);
    }

    private static Tensor Tokens(int seed = 7)
    {
        var generator = new Generator((ulong)seed);
        return randint(0, TinyTransformer.Vocab, new long[] { 16, 5 }, dtype: ScalarType.Int64, generator: generator);
    }

    /// <summary>Gives every adapter a visible update: random A at full ramp.</summary>
    private static void Perturb(TinyTransformer model)
    {
        using var _ = no_grad();
        foreach (var (_, adapter) in model.GetSingLoRALayers()) adapter.A.normal_(0, 0.3);
        model.SetRampStep(4);
    }

    [Fact]
    public void Every_target_is_adapted_and_each_block_implements_ISingLoRAModule()
    {
        using var scope = NewDisposeScope();
        var model = Model();
        Assert.Equal(
            new[] { "blocks.0.attn.q", "blocks.0.attn.k", "blocks.0.mlp.up", "blocks.1.attn.q", "blocks.1.attn.k", "blocks.1.mlp.up" },
            model.GetSingLoRALayers().Select(a => a.Path));
        var annotated = model.AnnotatedModules;
        Assert.Equal(4, annotated.Count);
        var linearAttention = Assert.IsType<LinearAttention>(model.Blocks[0].Attention);
        Assert.Equal(new[] { "q", "k" }, linearAttention.Adapters.Select(a => a.Key));
        Assert.Same(linearAttention.QAdapter, linearAttention.Adapters[0].Value);
        Assert.Equal(new SingLoRAOptions(2, RampLength: 4), linearAttention.SingLoRAOptions);
        var mlp = Assert.IsType<Mlp>(model.Blocks[0].FeedForward);
        Assert.Equal((8L, 32L, 32L), (mlp.UpAdapter.in_features, mlp.UpAdapter.out_features, mlp.UpAdapter.Width));
    }

    [Fact]
    public void State_dict_keeps_the_base_keys_and_adds_the_adapter_keys()
    {
        using var scope = NewDisposeScope();
        var keys = Model().state_dict().Keys.ToHashSet();
        var plainKeys = Model(adapted: false).state_dict().Keys.ToHashSet();
        Assert.Contains("blocks.0.attn.q.weight", keys);
        Assert.Contains("blocks.0.attn.q.bias", keys);
        Assert.Contains("blocks.1.attn.k.weight", keys);
        Assert.Contains("blocks.0.attn.q.singlora_A", keys);
        Assert.Contains("blocks.0.attn.q.singlora_step", keys);
        Assert.Contains("blocks.1.mlp.up.singlora_A", keys);
        Assert.Subset(keys, plainKeys);
        var added = keys.Except(plainKeys).OrderBy(k => k).ToArray();
        Assert.Equal(12, added.Length);
        Assert.All(added, k => Assert.True(k.EndsWith(".singlora_A") || k.EndsWith(".singlora_step"), k));
    }

    [Fact]
    public void A_pretrained_checkpoint_of_the_plain_twin_loads_missing_only_adapter_keys_and_gives_the_same_output()
    {
        using var scope = NewDisposeScope();
        var pretrained = Model(adapted: false, seed: 3);
        var model = Model(adapted: true, seed: 4);
        var (missing, unexpected) = model.load_state_dict(pretrained.state_dict(), strict: false);
        Assert.Empty(unexpected);
        Assert.Equal(12, missing.Count);
        Assert.All(missing, k => Assert.True(k.EndsWith(".singlora_A") || k.EndsWith(".singlora_step"), k));

        pretrained.eval();
        model.eval();
        var x = Tokens();
        // u(0) = 0: the adapted model starts equal to the pretrained one.
        Assert.True(model.call(x).allclose(pretrained.call(x), rtol: 0, atol: 1e-6));
        Perturb(model);
        Assert.False(model.call(x).allclose(pretrained.call(x), rtol: 0, atol: 1e-4));
    }

    [Fact]
    public void Both_mechanisms_put_the_adapters_in_the_forward_pass()
    {
        using var scope = NewDisposeScope();
        var model = Model();
        model.SetRampStep(2);
        var logits = model.call(Tokens());
        logits.square().mean().backward();
        foreach (var (path, adapter) in model.GetSingLoRALayers())
        {
            Assert.NotNull(adapter.A.grad);
            Assert.True(adapter.A.grad!.abs().sum().item<float>() > 0, $"{path} got no gradient: its adapter is not on the forward path.");
        }
    }

    [Fact]
    public void Training_a_few_AdamW_steps_lowers_the_loss_and_advances_every_ramp()
    {
        using var scope = NewDisposeScope();
        var model = Model();
        model.FreezeAllButAdapters();
        Assert.All(model.parameters().Where(p => p.requires_grad), p => Assert.Contains(p, model.AdapterParameters()));
        var optimizer = optim.AdamW(model.AdapterParameters(), lr: 0.05);
        var x = Tokens();
        var target = x.add(1).remainder(TinyTransformer.Vocab);   // predict the next symbol of a cyclic alphabet
        var losses = new List<float>();
        for (int step = 0; step < 25; step++)
        {
            using var stepScope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.cross_entropy(model.call(x).reshape(-1, TinyTransformer.Vocab), target.reshape(-1));
            loss.backward();
            optimizer.step();
            model.AdvanceRamp();
            losses.Add(loss.item<float>());
        }
        Assert.Equal(1.0, model.RampValue());
        Assert.All(model.AnnotatedModules, m => Assert.Equal(1.0, m.RampValue()));
        Assert.All(model.GetSingLoRALayers(), a => Assert.Equal(25, a.Adapter.RampStep));
        Assert.True(losses[^1] < 0.9 * losses[0], $"The loss did not go down: {string.Join(", ", losses)}");
    }

    [Fact]
    public void Merged_output_equals_unmerged_and_unmerge_restores_the_base_weights()
    {
        using var scope = NewDisposeScope();
        var model = Model();
        model.eval();
        Perturb(model);
        var x = Tokens();
        var baseWeights = model.GetSingLoRALayers().Select(a => a.Adapter.weight.detach().clone()).ToArray();
        var unmerged = model.call(x);

        model.MergeAdapters();
        Assert.All(model.GetSingLoRALayers(), a => Assert.True(a.Adapter.IsMerged));
        Assert.True(model.call(x).allclose(unmerged, rtol: 1e-5, atol: 1e-5));
        Assert.Contains(model.GetSingLoRALayers(), a => !a.Adapter.weight.allclose(baseWeights[0], rtol: 0, atol: 1e-6));

        model.UnmergeAdapters();
        var adapters = model.GetSingLoRALayers();
        for (int i = 0; i < adapters.Count; i++)
            Assert.True(adapters[i].Adapter.weight.allclose(baseWeights[i], rtol: 0, atol: 1e-6), adapters[i].Path);
        Assert.True(model.call(x).allclose(unmerged, rtol: 1e-6, atol: 1e-6));

        // Block-level operations through the generated interface reach the same adapters.
        var attention = (ISingLoRAModule)model.Blocks[1].Attention;
        attention.SafeMergeAdapters();
        Assert.All(attention.Adapters, a => Assert.True(a.Value.IsMerged));
        attention.UnmergeAdapters();
    }

    [Fact]
    public void The_interface_operations_are_default_members_acting_on_the_module_as_the_extensions_do()
    {
        using var scope = NewDisposeScope();
        var model = Model();
        // The generator writes only what is per class; the operations are ISingLoRAModule's default members.
        foreach (var type in new[] { typeof(LinearAttention), typeof(ModuleAttention), typeof(Mlp) })
            foreach (var name in new[] { "AdvanceRamp", "SetRampStep", "RampValue", "MergeAdapters", "UnmergeAdapters", "SafeMergeAdapters", "FreezeAllButAdapters", "AdapterParameters" })
                Assert.Null(type.GetMethod(name, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.DeclaredOnly));

        var block = (ISingLoRAModule)model.Blocks[1].Attention;
        var other = (ISingLoRAModule)model.Blocks[0].Attention;
        var own = block.Adapters.Select(a => a.Value).ToList();
        Assert.Equal(2, own.Count);

        block.SetRampStep(2);
        block.AdvanceRamp();
        Assert.All(own, a => Assert.Equal(3, a.RampStep));
        Assert.Equal(0.75, block.RampValue());
        Assert.All(other.Adapters, a => Assert.Equal(0, a.Value.RampStep));   // only the module's own subtree

        block.FreezeAllButAdapters();
        Assert.Equal(own.Select(a => a.A.Handle), block.AdapterParameters().Select(p => p.Handle));
        Assert.Equal(own.Select(a => a.A.Handle), ((nn.Module)block).parameters().Where(p => p.requires_grad).Select(p => p.Handle));

        block.MergeAdapters();
        Assert.All(own, a => Assert.True(a.IsMerged));
        Assert.All(other.Adapters, a => Assert.False(a.Value.IsMerged));
        block.UnmergeAdapters();
        Assert.All(own, a => Assert.False(a.IsMerged));
    }

    [Fact]
    public void A_state_dict_round_trip_restores_the_adapters_and_the_ramp_step()
    {
        using var scope = NewDisposeScope();
        var model = Model(seed: 5);
        model.eval();
        Perturb(model);
        model.SetRampStep(3);
        var x = Tokens();
        var expected = model.call(x);

        var fresh = Model(seed: 6);
        fresh.eval();
        Assert.False(fresh.call(x).allclose(expected, rtol: 0, atol: 1e-4));
        var (missing, unexpected) = fresh.load_state_dict(model.state_dict(), strict: true);
        Assert.Empty(missing);
        Assert.Empty(unexpected);
        Assert.All(fresh.GetSingLoRALayers(), a => Assert.Equal(3, a.Adapter.RampStep));
        Assert.Equal(0.75, fresh.RampValue());
        Assert.True(fresh.call(x).allclose(expected, rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void RegisterComponents_runs_the_injection_once()
    {
        using var scope = NewDisposeScope();
        var attention = new LinearAttention(4);
        var q = attention.QAdapter;
        typeof(nn.Module).GetMethod("RegisterComponents", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!
            .Invoke(attention, null);
        Assert.Same(q, attention.QAdapter);
        Assert.Equal(2, attention.GetSingLoRALayers().Count);
    }
}

/// <summary>What happens when user code replaces a target after the adapters were created.</summary>
public class ReassignedTargetTests
{
    [Fact]
    public void A_Linear_target_replaced_after_RegisterComponents_fails_its_next_call_with_both_possible_causes()
    {
        using var scope = torch.NewDisposeScope();
        var attention = new LinearAttention(8);
        // As a method of the class would do it (`q = Linear(8, 8);`); SLG0024 reports such an assignment at build time.
        typeof(LinearAttention).GetField("q", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!
            .SetValue(attention, torch.nn.Linear(8, 8));
        var e = Assert.Throws<InvalidOperationException>(() => attention.forward(torch.randn(2, 3, 8)));
        Assert.Contains("LinearAttention.q has no SingLoRA adapter", e.Message);
        Assert.Contains("assigned a new Linear after RegisterComponents()", e.Message);
        Assert.Contains("RegisterComponents() yet", e.Message);
    }
}
