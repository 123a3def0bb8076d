using System;
using System.IO;
using System.Linq;
using SingLoRA.AdapterFiles;
using SingLoRA.Tests.Generated;
using SingLoRA.TestModels;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Runtime;

/// <summary>
/// One configuration record for every way in (issue 19, item 2): given explicitly to annotated modules after they are
/// built, to a model by module path, read back from a model and from an adapter folder.
/// </summary>
public class ConfigTests
{
    [Fact]
    public void ApplySingLoRA_gives_annotated_modules_new_adapters_explicitly_and_the_model_reports_the_config_back()
    {
        using var scope = torch.NewDisposeScope();
        var model = new TinyTransformer(adapted: true);   // the attributes say rank 2, ramp 4, targets q,k and up
        var config = new SingLoRAConfig(new SingLoRAOptions(Rank: 4, Alpha: 8, RampLength: 10)) { Targets = ["q", "up"] };

        var paths = model.ApplySingLoRA(config);

        Assert.Equal(new[] { "blocks.0.attn.q", "blocks.0.mlp.up", "blocks.1.attn.q", "blocks.1.mlp.up" }, paths);
        Assert.All(model.GetSingLoRALayers(), l => Assert.Equal(config.Options, l.Adapter.Options));
        Assert.Equal(config with { Targets = paths }, model.GetSingLoRAConfig());
        // What a model reports applies again: the same layers, fresh adapters.
        var other = new TinyTransformer(adapted: true);
        Assert.Equal(paths, other.ApplySingLoRA(model.GetSingLoRAConfig()));
        Assert.Equal(paths, other.ApplySingLoRA(config with { Targets = ["blocks.*.attn.q", "mlp.up"] }));
        // k was the attribute's target and is not the config's: plain, with no adapter keys.
        Assert.DoesNotContain(model.state_dict().Keys, k => k.Contains(".k.singlora", StringComparison.Ordinal));
        foreach (var m in model.AnnotatedModules) Assert.Equal(config.Options, m.SingLoRAOptions);
        var tokens = torch.randint(0, TinyTransformer.Vocab, new long[] { 2, 5 });
        using (model.DisableAdapters()) Assert.True(model.forward(tokens).isfinite().all().item<bool>());
        model.FreezeAllButAdapters();
        // Only the four A matrices train: [max(d_in, d_out), 4] each.
        Assert.Equal(model.GetSingLoRALayers().Sum(l => Math.Max(l.Adapter.in_features, l.Adapter.out_features) * 4), model.CountParameters().Trainable);
    }

    [Fact]
    public void ApplySingLoRA_is_all_or_nothing_and_names_every_problem()
    {
        using var scope = torch.NewDisposeScope();
        var model = new TinyTransformer(adapted: true);
        var before = model.state_dict().Keys.ToList();
        var bad = new SingLoRAConfig(new SingLoRAOptions(Rank: 9)) { Targets = ["q", "nope"], Layers = "0" };

        var e = Assert.Throws<InvalidOperationException>(() => model.ApplySingLoRA(bad));

        Assert.Contains("changed nothing", e.Message);
        Assert.Contains("target 'nope' matches no [SingLoRA] target", e.Message);
        Assert.Contains("names no LayerIndex member", e.Message);
        Assert.Contains("rank 9 is larger than min(d_in, d_out) = 8", e.Message);
        Assert.Equal(before, model.state_dict().Keys.ToList());
        Assert.All(model.GetSingLoRALayers(), l => Assert.Equal(2, l.Adapter.Rank));
    }

    [Fact]
    public void ApplySingLoRA_chooses_layers_by_the_classes_layer_index()
    {
        using var scope = torch.NewDisposeScope();
        var decoder = new IndexedDecoder();   // the attribute adapts layers 1, 3 and 4
        decoder.ApplySingLoRA(new SingLoRAConfig(new SingLoRAOptions(Rank: 1)) { Layers = "0, 5" });
        Assert.Equal(new[] { true, false, false, false, false, true }, decoder.Layers.Select(l => l.Adapters.Count > 0).ToArray());
        decoder.ApplySingLoRA(new SingLoRAConfig(new SingLoRAOptions(Rank: 1)));   // Layers null: the attribute's choice again
        Assert.Equal(new[] { false, true, false, true, true, false }, decoder.Layers.Select(l => l.Adapters.Count > 0).ToArray());
    }

    [Fact]
    public void AddSingLoRA_with_a_config_chooses_layers_by_the_paths_first_number()
    {
        using var scope = torch.NewDisposeScope();
        var model = new ForeignNet(depth: 3);
        var report = model.AddSingLoRA(new SingLoRAConfig(new SingLoRAOptions(Rank: 2)) { Targets = ["q_proj", "v_proj"], Layers = "1-2" }, strict: true);
        Assert.Equal(new[] { "blocks.1.q_proj", "blocks.1.v_proj", "blocks.2.q_proj", "blocks.2.v_proj" }, report.Adapted.Select(a => a.Path));
    }

    [Fact]
    public void A_configs_modules_to_save_are_trained_saved_and_reported_back()
    {
        using var scope = torch.NewDisposeScope();
        var dir = Path.Combine(Path.GetTempPath(), "singlora-config-" + Guid.NewGuid().ToString("N"));
        try
        {
            // ApplySingLoRA: the head stays trainable through FreezeAllButAdapters and SaveAdapters saves it unasked.
            var model = new TinyTransformer(adapted: true);
            var config = new SingLoRAConfig(new SingLoRAOptions(Rank: 2)) { Targets = ["q"], ModulesToSave = ["head"] };
            model.ApplySingLoRA(config);
            model.FreezeAllButAdapters();
            var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
            Assert.Equal(new[] { "blocks.0.attn.q.singlora_A", "blocks.1.attn.q.singlora_A", "head.bias", "head.weight" }, trainable.Order(StringComparer.Ordinal));
            Assert.Equal(new[] { "head" }, model.GetSingLoRAConfig().ModulesToSave);
            Assert.Equal(new[] { "head" }, model.SaveAdapters(dir).ModulesToSave);
            using (var file = SafeTensors.Load(Path.Combine(dir, AdapterFile.WeightsFileName)))
                Assert.Contains("head.weight", file.Names);

            // AddSingLoRA (a model you don't own), and again from the folder's config: the head is loaded and saved again.
            var foreign = new ForeignNet(depth: 2);
            foreign.AddSingLoRA(new SingLoRAConfig(new SingLoRAOptions(Rank: 2)) { Targets = ["q_proj"], ModulesToSave = ["heads.cls"] }, strict: true);
            foreign.FreezeAllButAdapters();
            Assert.Equal(new[] { "blocks.0.q_proj.singlora_A", "blocks.1.q_proj.singlora_A", "heads.cls.bias", "heads.cls.weight" },
                foreign.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).Order(StringComparer.Ordinal));
            var saved = Path.Combine(dir, "foreign");
            Assert.Equal(new[] { "heads.cls" }, foreign.SaveAdapters(saved).ModulesToSave);
            var rebuilt = new ForeignNet(depth: 2);
            rebuilt.AddSingLoRA(AdapterFile.ReadConfig(saved).ToSingLoRAConfig(), strict: true);
            rebuilt.LoadAdapters(saved);
            rebuilt.FreezeAllButAdapters();
            Assert.True(rebuilt.named_parameters().Single(p => p.name == "heads.cls.weight").parameter.requires_grad);
            Assert.Equal(new[] { "heads.cls" }, rebuilt.SaveAdapters(Path.Combine(dir, "again")).ModulesToSave);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Modules_to_save_that_are_missing_or_hold_adapted_layers_are_refused_and_nothing_changes()
    {
        using var scope = torch.NewDisposeScope();
        var model = new TinyTransformer(adapted: true);
        var before = model.state_dict().Keys.ToList();
        var bad = new SingLoRAConfig(new SingLoRAOptions(Rank: 4)) { Targets = ["q"], ModulesToSave = ["haed", "blocks.0.attn", "blocks.1.mlp"] };

        var e = Assert.Throws<InvalidOperationException>(() => model.ApplySingLoRA(bad));

        Assert.Contains("changed nothing", e.Message);
        Assert.Contains("module to save 'haed' is not a module of the model", e.Message);
        Assert.Contains("module to save 'blocks.0.attn' holds the adapted layer 'blocks.0.attn.q'", e.Message);
        Assert.DoesNotContain("'blocks.1.mlp'", e.Message);   // up is not among the config's targets: its MLP can be saved whole
        Assert.Equal(before, model.state_dict().Keys.ToList());
        Assert.All(model.GetSingLoRALayers(), l => Assert.Equal(2, l.Adapter.Rank));
        Assert.Empty(model.GetSingLoRAConfig().ModulesToSave);

        var foreign = new ForeignNet(depth: 2);
        var refused = Assert.Throws<ArgumentException>(() => foreign.AddSingLoRA(new SingLoRAConfig(new SingLoRAOptions(Rank: 2)) { Targets = ["q_proj"], ModulesToSave = ["blocks.0", "heads.cls"] }));
        Assert.Contains("changed nothing", refused.Message);
        Assert.Contains("module to save 'blocks.0' holds the adapted layer 'blocks.0.q_proj'", refused.Message);
        Assert.DoesNotContain("heads.cls", refused.Message);
        Assert.Empty(foreign.GetAdaptedLayers());
    }

    [Fact]
    public void An_adapter_folder_gives_back_the_config_that_rebuilds_a_model_it_loads_into()
    {
        using var scope = torch.NewDisposeScope();
        var dir = Path.Combine(Path.GetTempPath(), "singlora-config-" + Guid.NewGuid().ToString("N"));
        try
        {
            var trained = new TinyTransformer(adapted: true);
            var config = new SingLoRAConfig(new SingLoRAOptions(Rank: 3, Alpha: 6, RampLength: 7, Init: AdapterInit.Gaussian)) { Targets = ["k"] };
            trained.ApplySingLoRA(config);
            trained.FreezeAllButAdapters();
            trained.SaveAdapters(dir);

            var fromFile = AdapterFile.ReadConfig(dir).ToSingLoRAConfig();
            Assert.Equal(config.Options, fromFile.Options);
            Assert.Equal(new[] { "blocks.0.attn.k", "blocks.1.attn.k" }, fromFile.Targets);

            var fresh = new TinyTransformer(adapted: true);
            fresh.ApplySingLoRA(fromFile);   // the file's target paths choose the same layers
            fresh.LoadAdapters(dir);
            var a = trained.GetSingLoRALayers().Select(l => l.Adapter.A).ToList();
            var b = fresh.GetSingLoRALayers().Select(l => l.Adapter.A).ToList();
            Assert.All(a.Zip(b), p => Assert.True(p.First.eq(p.Second).all().item<bool>()));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
