using System;
using System.Collections;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using SingLoRA.AdapterFiles;
using SingLoRA.Injection;
using SingLoRA.Tests.AdapterFiles;
using SingLoRA.Tests.Runtime;
using SingLoRA.TestModels;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Injection;

/// <summary>
/// Runtime injection (<c>model.AddSingLoRA(targets, options)</c>) on models from a compiled assembly that knows nothing
/// of SingLoRA (tests/SingLoRA.TestModels) and on TorchSharp's own <c>nn.Sequential</c>.
/// </summary>
public class RuntimeInjectionTests
{
    private static readonly string[] Targets = { "embed.0", "q_proj", "v_proj", "o_proj", "mlp.0", "mlp.2", "heads.cls" };
    private static readonly SingLoRAOptions Options = new(Rank: 2, Alpha: 4, RampLength: 4);

    // named_modules() order: each container's direct children first, then their subtrees.
    private static readonly string[] Reachable =
    {
        "embed.0",
        "blocks.0.q_proj", "blocks.0.v_proj", "blocks.0.mlp.0", "blocks.0.mlp.2",
        "blocks.1.q_proj", "blocks.1.v_proj", "blocks.1.mlp.0", "blocks.1.mlp.2",
        "heads.cls",
    };

    private static Tensor Input(int batch = 4) => randn(batch, 5, 6);

    [Fact]
    public void The_report_lists_adapted_layers_with_shape_rank_and_holder_and_names_the_Linear_fields_it_cannot_reach()
    {
        using var scope = NewDisposeScope();
        var model = new ForeignNet();
        var report = model.AddSingLoRA(Targets, Options);

        Assert.Equal(Reachable, report.Adapted.Select(a => a.Path));
        Assert.Equal(Reachable, model.GetSingLoRALayers().Select(a => a.Path));
        var q = report.Adapted.Single(a => a.Path == "blocks.1.q_proj");
        Assert.Equal((8L, 8L, 2), (q.InFeatures, q.OutFeatures, q.Rank));
        Assert.Equal(new[] { "field ForeignBlock.q_proj (Module<Tensor, Tensor>) of 'blocks.1'" }, q.Via);
        Assert.Equal(new[] { "item 0 of Sequential 'embed'" }, report.Adapted[0].Via);
        var up = report.Adapted.Single(a => a.Path == "blocks.0.mlp.0");
        Assert.Equal((8L, 16L), (up.InFeatures, up.OutFeatures));
        Assert.Equal(new[] { "item 0 of ModuleList<Module<Tensor, Tensor>> 'blocks.0.mlp'" }, up.Via);
        Assert.Equal(new[] { "key 'cls' of ModuleDict<Module<Tensor, Tensor>> 'heads'" }, report.Adapted[^1].Via);

        Assert.Equal(new[] { "blocks.0.o_proj", "blocks.1.o_proj" }, report.Skipped.Select(s => s.Path));
        foreach (var skipped in report.Skipped)
        {
            Assert.Equal(SkipReason.TypedAsLinear, skipped.Reason);
            Assert.Equal("Linear", skipped.ModuleType);
            Assert.Contains("field ForeignBlock.o_proj", skipped.Message);
            Assert.Contains("sealed", skipped.Message);
            Assert.Contains("cannot be redirected at run time", skipped.Message);
        }
        Assert.Empty(report.UnmatchedPatterns);
        Assert.False(report.IsComplete);
        string text = report.ToString();
        Assert.Contains("SingLoRA adapted 10 layer(s):", text);
        Assert.Contains("blocks.0.mlp.0  [16, 8]  rank 2", text);
        Assert.Contains("'blocks.1.o_proj' (Linear) not adapted: field ForeignBlock.o_proj", text);
    }

    [Fact]
    public void At_ramp_step_0_the_outputs_equal_the_original_models_bit_for_bit_and_base_keys_are_unchanged()
    {
        using var scope = NewDisposeScope();
        var model = new ForeignNet();
        var x = Input();
        var before = model.forward(x);
        var keysBefore = model.state_dict().Keys.ToHashSet();
        var weight = model.state_dict()["blocks.0.q_proj.weight"];

        model.AddSingLoRA(Targets, Options);

        Assert.True(Reference.Identical(before, model.forward(x)));
        var expected = keysBefore.Concat(Reachable.SelectMany(p => new[] { $"{p}.singlora_A", $"{p}.singlora_step" }));
        Assert.Equal(expected.Order(StringComparer.Ordinal), model.state_dict().Keys.Order(StringComparer.Ordinal));
        Assert.Same(weight, model.state_dict()["blocks.0.q_proj.weight"]);
        Assert.Equal(new long[] { 16, 2 }, model.state_dict()["blocks.0.mlp.2.singlora_A"].shape);   // n = max(16, 8)
    }

    [Fact]
    public void Every_adapted_layer_is_on_the_models_call_path()
    {
        using var scope = NewDisposeScope();
        var model = new ForeignNet();
        model.AddSingLoRA(Targets, Options);
        model.SetRampStep(Options.RampLength);   // u = 1
        var x = Input();
        var full = model.forward(x);
        foreach (var (path, adapter) in model.GetSingLoRALayers())
        {
            using var _ = no_grad();
            var a = adapter.A.detach().clone();
            adapter.A.zero_();
            Assert.False(Reference.Identical(full, model.forward(x)), $"Zeroing the adapter of '{path}' did not change the output: the model does not call it.");
            adapter.A.copy_(a);
        }
        Assert.True(Reference.Identical(full, model.forward(x)));
    }

    [Fact]
    public void The_adapted_model_trains_and_only_A_changes()
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var model = new ForeignNet();
        model.AddSingLoRA(Targets, Options);
        model.FreezeAllButAdapters();
        var before = Helpers.Snapshot(model);
        var x = Input(32);
        var labels = randint(0, 3, new long[] { 32 });
        var optimizer = optim.AdamW(model.AdapterParameters(), lr: 0.05);
        var losses = new List<double>();
        for (int step = 0; step < 40; step++)
        {
            using var stepScope = NewDisposeScope();
            var loss = nn.functional.cross_entropy(model.forward(x), labels);
            losses.Add(loss.item<float>());
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            model.AdvanceRamp();
        }

        Assert.True(losses[^1] < 0.5 * losses[0], $"Loss went from {losses[0]} to {losses[^1]}.");
        var after = Helpers.Snapshot(model);
        foreach (var (name, tensor) in before)
        {
            bool same = Reference.Identical(tensor, after[name]);
            if (name.EndsWith(".singlora_A", StringComparison.Ordinal)) Assert.False(same, $"{name} did not train.");
            else if (name.EndsWith(".singlora_step", StringComparison.Ordinal)) Assert.Equal(40, after[name].item<long>());
            else Assert.True(same, $"{name} changed, but only adapters should train.");
        }
        Assert.Equal(Reachable.Length, before.Keys.Count(k => k.EndsWith(".singlora_A", StringComparison.Ordinal)));
    }

    [Fact]
    public void Adapters_save_and_load_into_a_fresh_instance_adapted_the_same_way()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        manual_seed(5);
        var source = new ForeignNet();
        source.AddSingLoRA(Targets, Options);
        source.FreezeAllButAdapters();                  // as set up for fine-tuning (SaveAdapters refuses to drop trainable tensors)
        Helpers.Randomise(source, step: 3);
        var config = source.SaveAdapters(dir.Path);
        Assert.Equal(Reachable, config.TargetModules);

        manual_seed(5);
        var target = new ForeignNet();                 // same base weights, fresh adapters at step 0
        target.AddSingLoRA(Targets, Options);
        target.LoadAdapters(dir.Path);

        var x = Input();
        Assert.True(Reference.Identical(source.forward(x), target.forward(x)));
        Assert.Equal(3, target.GetSingLoRALayers()[0].Adapter.RampStep);
    }

    [Fact]
    public void Merge_and_unmerge_work_on_the_adapted_model()
    {
        using var scope = NewDisposeScope();
        var model = new ForeignNet();
        model.AddSingLoRA(Targets, Options);
        Helpers.Randomise(model, step: Options.RampLength);
        var x = Input();
        var unmerged = model.forward(x);

        model.MergeAdapters();
        var merged = model.forward(x);
        Assert.True(Reference.RelativeError(merged, unmerged) < 1e-5, $"merged vs unmerged: {Reference.RelativeError(merged, unmerged)}");
        model.UnmergeAdapters();
        Assert.True(Reference.RelativeError(model.forward(x), unmerged) < 1e-6);
    }

    [Fact]
    public void A_merged_export_loads_into_the_plain_compiled_class_and_counts_and_safe_merge_work()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        var model = new ForeignNet();
        var total = model.CountParameters().Total;
        model.AddSingLoRA(Targets, Options);
        model.FreezeAllButAdapters();
        long adapterValues = model.GetSingLoRALayers().Sum(a => a.Adapter.A.numel());
        Assert.Equal(new ParameterSummary(adapterValues, total + adapterValues), model.CountParameters());

        Helpers.Randomise(model, step: Options.RampLength);
        var x = Input();
        var adapted = model.forward(x);
        string file = Path.Combine(dir.Path, "merged.safetensors");
        model.SaveMerged(file);
        var plain = new ForeignNet();                    // the compiled class as it is, no adapters
        plain.LoadSafeTensors(file);                     // strict: exactly the base keys
        Assert.True(Reference.RelativeError(plain.forward(x), adapted) < 1e-5);

        model.SafeMergeAdapters();
        Assert.True(Reference.RelativeError(model.forward(x), adapted) < 1e-5);
        model.UnmergeAdapters();

    }

    [Fact]
    public void The_adapters_move_with_the_compiled_model()
    {
        // A ForeignBlock, not a ForeignNet: TorchSharp 0.107 cannot move any model holding a ModuleDict (its generic
        // move collects public properties by name, and ModuleDict has two indexers named Item), adapted or not.
        using var scope = NewDisposeScope();
        var block = new ForeignBlock(8);
        block.AddSingLoRA(new[] { "q_proj", "v_proj", "mlp.0", "mlp.2" }, Options, strict: true);
        Helpers.Randomise(block, step: Options.RampLength);
        var x = randn(2, 5, 8);
        var before = block.forward(x);

        block.to(ScalarType.Float64);                    // field and ModuleList registrations move with the block
        Assert.All(block.GetSingLoRALayers(), a => Assert.Equal(ScalarType.Float64, a.Adapter.A.dtype));
        Assert.True(Reference.RelativeError(block.forward(x.to_type(ScalarType.Float64)), before) < 1e-5);
    }

    private static readonly string[] OddTargets = { "taps.*", "shared", "free", "out", "hidden0", "relu", "nothing_here" };

    [Fact]
    public void Every_way_of_holding_a_layer_gets_its_own_verdict()
    {
        using var scope = NewDisposeScope();
        var model = new OddHolders();
        var report = model.AddSingLoRA(OddTargets, Options);

        var adapted = Assert.Single(report.Adapted);
        Assert.Equal("path.out", adapted.Path);
        Assert.Equal(new[] { "item 3 of Sequential 'path'" }, adapted.Via);
        Assert.Equal(new[] { "path.out" }, model.GetSingLoRALayers().Select(a => a.Path));

        var skipped = report.Skipped.ToDictionary(s => s.Path);
        Assert.Equal(new[] { "shared", "hidden0", "taps.0", "taps.1", "path.relu", "path.free" }, report.Skipped.Select(s => s.Path));
        Assert.Equal(SkipReason.TypedAsLinear, skipped["taps.0"].Reason);
        Assert.Contains("ModuleList<Linear> 'taps' can hold only Linear items", skipped["taps.0"].Message);
        Assert.Equal(SkipReason.TypedAsLinear, skipped["shared"].Reason);   // also a Sequential item, but a Linear field holds it too
        Assert.Contains("field OddHolders.shared of (the model) is typed Linear", skipped["shared"].Message);
        Assert.Equal(SkipReason.UnknownCaller, skipped["hidden0"].Reason);
        Assert.Contains("List<Linear>", skipped["hidden0"].Message);
        Assert.Equal(SkipReason.NotLinear, skipped["path.relu"].Reason);
        Assert.Equal("ReLU", skipped["path.relu"].ModuleType);
        Assert.Equal(SkipReason.SharedModule, skipped["path.free"].Reason);
        Assert.Contains("registered under 2 paths ('tail', 'path.free')", skipped["path.free"].Message);
        Assert.Equal(new[] { "nothing_here" }, report.UnmatchedPatterns);
    }

    [Fact]
    public void Strict_mode_throws_listing_every_problem_and_leaves_the_model_unchanged()
    {
        using var scope = NewDisposeScope();
        var model = new OddHolders();
        var x = randn(3, 4);
        var output = model.forward(x);
        var state = Capture(model);

        var e = Assert.Throws<SingLoRAInjectionException>(() => model.AddSingLoRA(OddTargets, Options, strict: true));

        Assert.Equal(7, e.Problems.Count);
        foreach (var expected in new[] { "'shared'", "'hidden0'", "'taps.0'", "'taps.1'", "'path.relu'", "'path.free'", "Target 'nothing_here' matched no module." })
            Assert.Contains(expected, e.Message);
        Assert.Contains("The model was not changed.", e.Message);
        Assert.Equal("path.out", Assert.Single(e.Report.Adapted).Path);   // what would have been adapted
        AssertUnchanged(model, state);
        Assert.True(Reference.Identical(output, model.forward(x)));
        Assert.Empty(model.GetSingLoRALayers());

        // Fixing the targets is all it takes.
        Assert.True(model.AddSingLoRA(new[] { "out" }, Options, strict: true).IsComplete);
        Assert.Equal(new[] { "path.out" }, model.GetSingLoRALayers().Select(a => a.Path));
    }

    [Fact]
    public void A_failure_midway_undoes_every_change_and_the_model_can_be_adapted_afterwards()
    {
        using var scope = NewDisposeScope();
        var model = new ForeignNet();
        var x = Input();
        var output = model.forward(x);
        var state = Capture(model);
        try
        {
            RuntimeInjection.BeforePutForTests = path => { if (path == "blocks.1.v_proj") throw new IOException("simulated failure"); };
            var e = Assert.Throws<InvalidOperationException>(() => model.AddSingLoRA(Targets, Options));
            Assert.IsType<IOException>(e.InnerException);
            Assert.Contains("failed while adapting 'blocks.1.v_proj': simulated failure", e.Message);
            Assert.Contains("Every change was undone", e.Message);
        }
        finally
        {
            RuntimeInjection.BeforePutForTests = null;
        }
        AssertUnchanged(model, state);
        Assert.True(Reference.Identical(output, model.forward(x)));
        foreach (var (path, module) in model.named_modules())
            if (module is Linear linear) Assert.Null(AdaptedLinear.Wrapping(linear));

        var report = model.AddSingLoRA(Targets, Options);   // no layer is left marked as wrapped
        Assert.Equal(Reachable, report.Adapted.Select(a => a.Path));
    }

    [Fact]
    public void TorchSharps_own_Sequential_is_adapted_in_place()
    {
        using var scope = NewDisposeScope();
        var model = nn.Sequential(("fc1", nn.Linear(6, 8)), ("act", nn.ReLU()), ("fc2", nn.Linear(8, 3)));
        var x = randn(4, 6);
        var before = model.forward(x);

        var report = model.AddSingLoRA(new[] { "fc1", "fc2" }, Options, strict: true);

        Assert.True(report.IsComplete);
        Assert.Equal(new[] { "fc1", "fc2" }, model.GetSingLoRALayers().Select(a => a.Path));
        Assert.IsType<SingLoRALinear>(model[0]);
        Assert.IsType<ReLU>(model[1]);
        Assert.True(Reference.Identical(before, model.forward(x)));
        Assert.Equal(new[] { "fc1.bias", "fc1.singlora_A", "fc1.singlora_step", "fc1.weight", "fc2.bias", "fc2.singlora_A", "fc2.singlora_step", "fc2.weight" },
            model.state_dict().Keys.Order(StringComparer.Ordinal));
        model.SetRampStep(Options.RampLength);
        Assert.False(Reference.Identical(before, model.forward(x)));
        model.to(ScalarType.Float64);                   // the Sequential moves its items, the adapters among them
        Assert.Equal(ScalarType.Float64, model.GetSingLoRALayers()[1].Adapter.A.dtype);
    }

    [Fact]
    public void A_predicate_selects_modules_by_anything()
    {
        using var scope = NewDisposeScope();
        var model = new ForeignNet();
        var report = model.AddSingLoRA((path, module) => module is Linear && !path.StartsWith("heads.", StringComparison.Ordinal), Options);
        Assert.Equal(Reachable[..^1], report.Adapted.Select(a => a.Path));
        Assert.Equal(new[] { "blocks.0.o_proj", "blocks.1.o_proj" }, report.Skipped.Select(s => s.Path));
        Assert.Empty(report.UnmatchedPatterns);
    }

    [Fact]
    public void A_second_call_adds_new_layers_and_reports_the_adapted_ones_and_the_layers_too_small_for_the_rank()
    {
        using var scope = NewDisposeScope();
        var model = new ForeignNet();
        model.AddSingLoRA(new[] { "q_proj" }, Options);
        var report = model.AddSingLoRA(new[] { "q_proj", "v_proj", "heads.*" }, Options with { Rank = 1 });

        Assert.Equal(new[] { "blocks.0.v_proj", "blocks.1.v_proj", "heads.cls", "heads.aux" }, report.Adapted.Select(a => a.Path));
        Assert.Equal(new[] { "blocks.0.q_proj", "blocks.1.q_proj" }, report.Skipped.Select(s => s.Path));
        Assert.All(report.Skipped, s => Assert.Equal(SkipReason.AlreadyAdapted, s.Reason));
        Assert.Equal(new[] { ("blocks.0.q_proj", 2), ("blocks.0.v_proj", 1), ("blocks.1.q_proj", 2), ("blocks.1.v_proj", 1), ("heads.cls", 1), ("heads.aux", 1) },
            model.GetSingLoRALayers().Select(a => (a.Path, a.Adapter.Rank)));

        var fresh = new ForeignNet();
        var tooSmall = fresh.AddSingLoRA(new[] { "heads.*" }, Options);   // heads.aux is [1, 8]: rank 2 > 1
        Assert.Equal("heads.aux", Assert.Single(tooSmall.Skipped).Path);
        Assert.Equal(SkipReason.InvalidForOptions, tooSmall.Skipped[0].Reason);
        Assert.Contains("rank 2 is larger than min(d_in, d_out) = 1", tooSmall.Skipped[0].Message);
    }

    [Fact]
    public void Adapters_put_into_a_model_in_eval_mode_are_in_eval_mode()
    {
        using var scope = NewDisposeScope();
        var model = new ForeignNet();
        model.eval();
        model.AddSingLoRA(Targets, Options with { Dropout = 0.5 });
        model.SetRampStep(Options.RampLength);
        Assert.All(model.GetSingLoRALayers(), a => Assert.False(a.Adapter.training));
        var x = Input();
        Assert.True(Reference.Identical(model.forward(x), model.forward(x)));   // no adapter dropout
        model.train();
        Assert.All(model.GetSingLoRALayers(), a => Assert.True(a.Adapter.training));
    }

    [Fact]
    public void When_nothing_can_be_adapted_it_throws_and_changes_nothing()
    {
        using var scope = NewDisposeScope();
        var model = new ForeignNet();
        var state = Capture(model);
        var e = Assert.Throws<SingLoRAInjectionException>(() => model.AddSingLoRA(new[] { "qproj", "o_proj" }, Options));
        Assert.Contains("found no layer it can adapt", e.Message);
        Assert.Contains("Target 'qproj' matched no module.", e.Message);
        Assert.Contains("'blocks.0.o_proj' (Linear) not adapted", e.Message);
        AssertUnchanged(model, state);
    }

    [Theory]
    [InlineData("q_proj", "blocks.0.q_proj", true)]
    [InlineData("q_proj", "q_proj", true)]
    [InlineData("q_proj", "blocks.0.xq_proj", false)]
    [InlineData("q_proj", "blocks.0.q_proj.inner", false)]
    [InlineData("0.q_proj", "blocks.0.q_proj", true)]
    [InlineData("blocks.0.q_proj", "blocks.0.q_proj", true)]
    [InlineData("blocks.0.q_proj", "model.blocks.0.q_proj", true)]
    [InlineData("blocks.*.q_proj", "blocks.7.q_proj", true)]
    [InlineData("blocks.*.q_proj", "blocks.7.attn.q_proj", false)]
    [InlineData("*_proj", "blocks.0.v_proj", true)]
    [InlineData("*_proj", "blocks.0.mlp", false)]
    [InlineData("mlp.*", "blocks.0.mlp.2", true)]
    [InlineData("q+proj", "q+proj", true)]            // regex characters are literal
    [InlineData("q+proj", "qqproj", false)]
    public void Patterns_match_a_path_or_a_dotted_suffix_with_star_inside_a_segment(string pattern, string path, bool matches) =>
        Assert.Equal(matches, ModulePathPattern.Parse(pattern, 0).Matches(path));

    [Theory]
    [InlineData("", "is empty")]
    [InlineData(" q_proj", "white space")]
    [InlineData(".*q_proj", "empty segment")]
    [InlineData("blocks..q", "empty segment")]
    [InlineData("q_proj.", "empty segment")]
    public void A_malformed_pattern_is_refused_with_what_is_wrong_and_the_syntax(string pattern, string expected)
    {
        using var scope = NewDisposeScope();
        var model = new ForeignNet();
        var state = Capture(model);
        var e = Assert.Throws<ArgumentException>(() => model.AddSingLoRA(new[] { "q_proj", pattern }, Options));
        Assert.Contains(expected, e.Message);
        Assert.Contains("not a regular expression", e.Message);
        AssertUnchanged(model, state);
    }

    [Fact]
    public void Missing_targets_and_invalid_options_are_refused_before_anything_changes()
    {
        using var scope = NewDisposeScope();
        var model = new ForeignNet();
        Assert.Contains("Name at least one target", Assert.Throws<ArgumentException>(() => model.AddSingLoRA(Array.Empty<string>(), Options)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.AddSingLoRA(new[] { "q_proj" }, Options with { Rank = 0 }));
        Assert.Empty(model.GetSingLoRALayers());
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private sealed record ModelState(List<(string Place, object Holder)> Structure, Dictionary<string, Tensor> Tensors, Dictionary<string, bool> RequiresGrad);

    /// <summary>Who holds what (registrations, container items, fields, by reference), every tensor's value and every parameter's requires_grad.</summary>
    private static ModelState Capture(nn.Module model)
    {
        var structure = new List<(string, object)>();
        foreach (var (path, module) in model.named_modules()) structure.Add(($"module {path}", module));
        foreach (var (path, module) in model.named_modules().Prepend(("", model)))
        {
            switch (module)
            {
                case Sequential sequential:
                    for (int i = 0; i < sequential.Count; i++) structure.Add(($"{path}[{i}]", sequential[i]));
                    break;
                case IEnumerable items when module.GetType().Name.StartsWith("ModuleList", StringComparison.Ordinal):
                    int n = 0;
                    foreach (var item in items) structure.Add(($"{path}[{n++}]", item));
                    break;
                case not null when module.GetType().GetProperty("Values")?.GetValue(module) is IEnumerable values:   // ModuleDict
                    int k = 0;
                    foreach (var item in values) structure.Add(($"{path}{{{k++}}}", item));
                    break;
            }
            for (var type = module!.GetType(); type != typeof(nn.Module); type = type.BaseType!)
                foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                    if (field.GetValue(module) is nn.Module held) structure.Add(($"{path}:{type.Name}.{field.Name}", held));
        }
        return new ModelState(structure, Helpers.Snapshot(model), model.named_parameters().ToDictionary(p => p.name, p => p.parameter.requires_grad));
    }

    private static void AssertUnchanged(nn.Module model, ModelState before)
    {
        var now = Capture(model);
        Assert.Equal(before.Structure.Select(s => s.Place), now.Structure.Select(s => s.Place));
        foreach (var ((place, was), (_, is_)) in before.Structure.Zip(now.Structure))
            Assert.True(ReferenceEquals(was, is_), $"{place} now holds a {is_.GetType().Name}, not the original {was.GetType().Name}.");
        Helpers.AssertUnchanged(model, before.Tensors);
        Assert.Equal(before.RequiresGrad, now.RequiresGrad);
    }
}
