using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using SingLoRA.AdapterFiles;
using SingLoRA.Pretrained;
using SingLoRA.Tests.AdapterFiles;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Pretrained;

/// <summary>
/// <c>model.LoadPretrained(...)</c>: a plain checkpoint into an adapted model. Every base tensor must be found, adapter
/// tensors are not required, every problem is named in one exception, and the model is unchanged (bit for bit) on failure.
/// </summary>
public class LoadPretrainedTests
{
    /// <summary>A plain pretrained checkpoint for <see cref="Net"/>: the state dict of <see cref="PlainNet"/> with random weights.</summary>
    private static Dictionary<string, Tensor> Checkpoint(int blocks = 2, long seed = 7)
    {
        manual_seed(seed);
        using var plain = new PlainNet(blocks);
        return plain.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
    }

    private static PretrainedLoadException Fails(nn.Module model, IReadOnlyDictionary<string, Tensor> checkpoint, PretrainedLoadOptions? options = null)
    {
        var before = Helpers.Snapshot(model);
        var merged = model.GetAdaptedLayers().Select(l => l.Layer.IsMerged).ToArray();
        var e = Assert.Throws<PretrainedLoadException>(() => model.LoadPretrained(checkpoint, options));
        Helpers.AssertUnchanged(model, before, merged);
        Assert.Contains("the model was not changed", e.Message);
        foreach (var p in e.Problems) Assert.Contains(p, e.Message);
        return e;
    }

    private static void AssertHolds(nn.Module model, IReadOnlyDictionary<string, Tensor> checkpoint, Func<string, string>? modelKey = null)
    {
        var state = Helpers.Snapshot(model);
        foreach (var (key, tensor) in checkpoint)
        {
            var target = state[modelKey?.Invoke(key) ?? key];
            Assert.True(Same(tensor.to(target.dtype), target), $"'{key}' was not loaded.");
        }
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Fact]
    public void A_plain_checkpoint_loads_into_an_adapted_model_and_the_report_says_what_was_loaded()
    {
        var checkpoint = Checkpoint();
        using var model = new Net(2);
        var adapterBefore = model.GetSingLoRALayers().Select(a => a.Adapter.A.detach().clone()).ToList();

        var report = model.LoadPretrained(checkpoint);

        AssertHolds(model, checkpoint);
        Assert.Equal(checkpoint.Count, report.Loaded.Count);
        Assert.Equal(checkpoint.Keys.OrderBy(k => k), report.Loaded.Select(l => l.ModelKey).OrderBy(k => k));
        Assert.All(report.Loaded, l => Assert.Equal(l.CheckpointKey, l.ModelKey));
        Assert.Equal(checkpoint.Values.Sum(t => t.numel()), report.LoadedValues);
        var q = report.Loaded.Single(l => l.ModelKey == "blocks.1.k.weight");
        Assert.Equal(new long[] { 16, 8 }, q.Shape);
        Assert.Equal("F32", q.DType);
        Assert.Null(q.ConvertedFrom);
        // The adapters' own tensors are not required and keep their values.
        Assert.Equal(new[] { "blocks.0.k.singlora_A", "blocks.0.k.singlora_step", "blocks.0.q.singlora_A", "blocks.0.q.singlora_step",
                             "blocks.1.k.singlora_A", "blocks.1.k.singlora_step", "blocks.1.q.singlora_A", "blocks.1.q.singlora_step" },
            report.AdapterKeys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.All(model.GetSingLoRALayers().Zip(adapterBefore), p => Assert.True(Same(p.First.Adapter.A, p.Second)));
        Assert.Empty(report.Unexpected);
        Assert.Empty(report.Skipped);
        Assert.Empty(report.Converted);
        Assert.Contains($"Loaded {checkpoint.Count} tensors", report.ToString());
        Assert.Contains("8 adapter tensors kept as initialised", report.ToString());
    }

    [Fact]
    public void LoRA_adapter_keys_are_not_required_either()
    {
        var checkpoint = Checkpoint(1);
        using var model = new LoRANet();
        var report = model.LoadPretrained(checkpoint);
        Assert.Equal(new[] { "blocks.0.q.lora_A", "blocks.0.q.lora_B", "head.lora_A", "head.lora_B" }, report.AdapterKeys.OrderBy(k => k, StringComparer.Ordinal));
        AssertHolds(model, checkpoint);
    }

    [Fact]
    public void A_missing_base_tensor_is_named_with_its_shape_and_nothing_is_loaded()
    {
        var checkpoint = Checkpoint();
        checkpoint.Remove("blocks.1.v.weight");
        using var model = new Net(2);
        var e = Fails(model, checkpoint);
        var problem = Assert.Single(e.Problems);
        Assert.Contains("Missing", problem);
        Assert.Contains("'blocks.1.v.weight'", problem);
        Assert.Contains("[8, 8]", problem);
        Assert.Contains("F32", problem);
    }

    [Fact]
    public void A_checkpoint_with_a_prefix_fails_with_a_hint_and_loads_with_StripPrefix()
    {
        var checkpoint = Checkpoint().ToDictionary(kv => "bert." + kv.Key, kv => kv.Value);
        using var model = new Net(2);
        var e = Fails(model, checkpoint);
        Assert.StartsWith("Hint:", e.Problems[0]);
        Assert.Contains("StripPrefix = \"bert.\"", e.Problems[0]);
        Assert.Contains(e.Problems, p => p.Contains("Missing") && p.Contains("'head.weight'"));
        Assert.Contains(e.Problems, p => p.Contains("Unexpected") && p.Contains("'bert.head.weight'"));

        var report = model.LoadPretrained(checkpoint, new PretrainedLoadOptions { StripPrefix = "bert." });
        AssertHolds(model, checkpoint, k => k["bert.".Length..]);
        Assert.Contains(report.Loaded, l => l.CheckpointKey == "bert.head.weight" && l.ModelKey == "head.weight");
    }

    [Fact]
    public void A_checkpoint_of_an_inner_model_fails_with_a_hint_and_loads_with_AddPrefix()
    {
        var checkpoint = Checkpoint(1);
        using var outer = new Outer(new Net(1));
        var e = Fails(outer, checkpoint);
        Assert.Contains("AddPrefix = \"inner.\"", e.Problems[0]);
        var report = outer.LoadPretrained(checkpoint, new PretrainedLoadOptions { AddPrefix = "inner." });
        Assert.Equal(checkpoint.Count, report.Loaded.Count);
        AssertHolds(outer, checkpoint, k => "inner." + k);
    }

    [Fact]
    public void MapKey_renames_keys_and_skips_those_it_maps_to_null()
    {
        // An exporter's names: "w" for weight, and an extra tensor the model does not have.
        var checkpoint = Checkpoint().ToDictionary(kv => kv.Key.Replace(".weight", ".w", StringComparison.Ordinal), kv => kv.Value);
        checkpoint["pooler.w"] = randn(8, 8);
        using var model = new Net(2);
        var options = new PretrainedLoadOptions { MapKey = k => k.StartsWith("pooler.", StringComparison.Ordinal) ? null : k.Replace(".w", ".weight", StringComparison.Ordinal) };
        var report = model.LoadPretrained(checkpoint, options);
        Assert.Equal(new[] { "pooler.w" }, report.Skipped);
        Assert.Contains("skipped by the key map: pooler.w", report.ToString());
        AssertHolds(model, checkpoint.Where(kv => kv.Key != "pooler.w").ToDictionary(kv => kv.Key, kv => kv.Value), k => k.Replace(".w", ".weight", StringComparison.Ordinal));
    }

    [Fact]
    public void Two_checkpoint_keys_that_map_to_one_model_key_are_a_problem()
    {
        var checkpoint = Checkpoint();
        checkpoint["bert.head.weight"] = checkpoint["head.weight"].clone();
        using var model = new Net(2);
        var e = Fails(model, checkpoint, new PretrainedLoadOptions { StripPrefix = "bert." });
        Assert.Contains(e.Problems, p => p.Contains("'head.weight'") && p.Contains("'bert.head.weight'") && p.Contains("both map"));
    }

    [Fact]
    public void A_shape_mismatch_is_named_with_both_shapes()
    {
        var checkpoint = Checkpoint();
        checkpoint["blocks.0.k.weight"] = checkpoint["blocks.0.k.weight"].t().contiguous(); // stored transposed, [8, 16]
        using var model = new Net(2);
        var e = Fails(model, checkpoint);
        var problem = Assert.Single(e.Problems);
        Assert.Contains("Shape mismatch", problem);
        Assert.Contains("'blocks.0.k.weight' is [8, 16] in the checkpoint but [16, 8] in the model", problem);
    }

    [Fact]
    public void A_dtype_mismatch_is_a_problem_unless_ConvertDTypes_is_set()
    {
        var checkpoint = Checkpoint();
        checkpoint["head.bias"] = checkpoint["head.bias"].to(ScalarType.Float64);
        checkpoint["head.weight"] = checkpoint["head.weight"].to(ScalarType.BFloat16);
        using var model = new Net(2);
        var e = Fails(model, checkpoint);
        Assert.Equal(2, e.Problems.Count);
        Assert.Contains(e.Problems, p => p.Contains("DType mismatch") && p.Contains("'head.bias' is F64 in the checkpoint but F32 in the model") && p.Contains("ConvertDTypes"));
        Assert.Contains(e.Problems, p => p.Contains("'head.weight' is BF16"));

        var report = model.LoadPretrained(checkpoint, new PretrainedLoadOptions { ConvertDTypes = true });
        Assert.Equal(new[] { ("head.weight", "BF16"), ("head.bias", "F64") }.OrderBy(x => x.Item1),
            report.Converted.Select(c => (c.ModelKey, c.ConvertedFrom!)).OrderBy(x => x.Item1));
        AssertHolds(model, checkpoint);
        Assert.Contains("converted head.bias: F64 -> F32", report.ToString());
    }

    [Fact]
    public void Integer_tensors_are_never_converted()
    {
        var checkpoint = Checkpoint();
        checkpoint["head.bias"] = checkpoint["head.bias"].to(ScalarType.Int32);
        using var model = new Net(2);
        var e = Fails(model, checkpoint, new PretrainedLoadOptions { ConvertDTypes = true });
        Assert.Contains("only floating-point tensors can be converted", Assert.Single(e.Problems));
    }

    [Fact]
    public void Unexpected_keys_are_a_problem_unless_allowed_and_then_reported()
    {
        var checkpoint = Checkpoint();
        checkpoint["pooler.dense.weight"] = randn(8, 8);
        checkpoint["embeddings.position_ids"] = arange(8);
        using var model = new Net(2);
        var e = Fails(model, checkpoint);
        Assert.Equal(2, e.Problems.Count);
        Assert.Contains(e.Problems, p => p.Contains("Unexpected") && p.Contains("'pooler.dense.weight' (shape [8, 8])") && p.Contains("AllowUnexpectedKeys"));

        var report = model.LoadPretrained(checkpoint, new PretrainedLoadOptions { AllowUnexpectedKeys = true });
        Assert.Equal(new[] { "embeddings.position_ids", "pooler.dense.weight" }, report.Unexpected.OrderBy(k => k, StringComparer.Ordinal));
        Assert.Contains("unexpected (left out):", report.ToString());
        AssertHolds(model, checkpoint.Where(kv => !report.Unexpected.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value));
    }

    [Fact]
    public void Adapter_tensors_in_the_checkpoint_are_refused_as_unexpected()
    {
        var checkpoint = Checkpoint();
        checkpoint["blocks.0.q.singlora_A"] = randn(8, 2);
        using var model = new Net(2);
        var e = Fails(model, checkpoint);
        Assert.Contains("adapter tensor 'blocks.0.q.singlora_A'", Assert.Single(e.Problems));
        Assert.Contains("LoadAdapters", e.Problems[0]);
    }

    [Fact]
    public void Every_problem_is_in_one_exception_and_the_model_is_bit_identical_afterwards()
    {
        var checkpoint = Checkpoint();
        checkpoint.Remove("blocks.0.q.bias");                                          // missing
        checkpoint["blocks.1.v.weight"] = randn(8, 9);                                  // shape
        checkpoint["head.bias"] = checkpoint["head.bias"].to(ScalarType.Float64);     // dtype
        checkpoint["classifier.weight"] = randn(2, 8);                                  // unexpected
        using var model = new Net(2);
        Helpers.Randomise(model, 3);
        var e = Fails(model, checkpoint);
        Assert.Equal(4, e.Problems.Count);
        Assert.Contains("4 problems", e.Message);
        Assert.Contains(e.Problems, p => p.StartsWith("Missing", StringComparison.Ordinal) && p.Contains("'blocks.0.q.bias'"));
        Assert.Contains(e.Problems, p => p.StartsWith("Shape mismatch", StringComparison.Ordinal) && p.Contains("'blocks.1.v.weight'"));
        Assert.Contains(e.Problems, p => p.StartsWith("DType mismatch", StringComparison.Ordinal) && p.Contains("'head.bias'"));
        Assert.Contains(e.Problems, p => p.StartsWith("Unexpected", StringComparison.Ordinal) && p.Contains("'classifier.weight'"));
    }

    [Fact]
    public void A_merged_model_is_refused_with_the_other_problems()
    {
        var checkpoint = Checkpoint();
        checkpoint.Remove("head.weight");
        using var model = new Net(2);
        Helpers.Randomise(model, 20);
        model.MergeAdapters();
        var e = Fails(model, checkpoint);
        Assert.Equal(5, e.Problems.Count); // four merged layers and the missing key
        Assert.Equal(4, e.Problems.Count(p => p.Contains("is merged") && p.Contains("UnmergeAdapters()")));
        Assert.Contains(e.Problems, p => p.Contains("'head.weight'"));
        Assert.True(model.GetAdaptedLayers().All(l => l.Layer.IsMerged));
    }

    [Fact]
    public void A_safetensors_file_loads_like_the_state_dict_and_bad_files_are_explained()
    {
        var checkpoint = Checkpoint();
        using var dir = Helpers.NewDir();
        var path = Path.Combine(dir.Path, "model.safetensors");
        SafeTensors.Save(path, checkpoint.Select(kv => new KeyValuePair<string, Tensor>("model." + kv.Key, kv.Value)));
        using var model = new Net(2);

        var report = model.LoadPretrained(path, new PretrainedLoadOptions { StripPrefix = "model." });
        Assert.Equal($"'{path}'", report.Checkpoint);
        Assert.Equal(checkpoint.Count, report.Loaded.Count);
        AssertHolds(model, checkpoint);

        var missing = Assert.Throws<PretrainedLoadException>(() => model.LoadPretrained(Path.Combine(dir.Path, "nope.safetensors")));
        Assert.Contains("does not exist", missing.Message);
        var pickle = Path.Combine(dir.Path, "pytorch_model.bin");
        File.WriteAllBytes(pickle, new byte[] { 0x80, 0x02, 0x7d, 0x71, 0x00, 0x28, 0x58, 0x01, 0x00, 0x00, 0x00, 0x61 });
        var before = Helpers.Snapshot(model);
        var bad = Assert.Throws<PretrainedLoadException>(() => model.LoadPretrained(pickle));
        Assert.Contains("a PyTorch pickle (.bin, .pt) is refused", bad.Message);
        Assert.IsType<SafeTensorsFormatException>(bad.InnerException);
        Helpers.AssertUnchanged(model, before);
    }

    [Fact]
    public void The_loaded_model_computes_what_the_pretrained_model_computes_before_training()
    {
        // u(0) = 0: an adapted model with the pretrained weights equals the pretrained model at step 0.
        manual_seed(3);
        using var plain = new PlainNet(2);
        using var model = new Net(2);
        model.LoadPretrained(plain.state_dict());
        var x = randn(4, 8);
        Assert.True(plain.forward(x).allclose(model.forward(x), rtol: 0, atol: 1e-6));
    }
}

/// <summary>A model whose only part is <c>inner</c>: its keys are the inner model's with the prefix <c>inner.</c>.</summary>
internal sealed class Outer : nn.Module<Tensor, Tensor>
{
    private readonly Net inner;

    public Outer(Net inner) : base(nameof(Outer))
    {
        this.inner = inner;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => inner.forward(x);
}

/// <summary><see cref="PlainNet"/>(1) with LoRA on <c>blocks.0.q</c> and on <c>head</c>.</summary>
internal sealed class LoRANet : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<LoRAAttn> blocks;
    private readonly LoRALinear head;

    public LoRANet(int d = 8) : base(nameof(LoRANet))
    {
        blocks = nn.ModuleList(new LoRAAttn(d));
        head = new LoRALinear(nn.Linear(d, 3), new LoRAOptions(2));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => head.forward(blocks[0].forward(x));
}

internal sealed class LoRAAttn : nn.Module<Tensor, Tensor>
{
    private readonly LoRALinear q;
    private readonly Linear k, v;

    public LoRAAttn(int d) : base(nameof(LoRAAttn))
    {
        q = new LoRALinear(nn.Linear(d, d), new LoRAOptions(2));
        k = nn.Linear(d, 2 * d);
        v = nn.Linear(d, d);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => q.forward(x) + k.forward(x).narrow(-1, 0, x.shape[^1]) + v.forward(x);
}
