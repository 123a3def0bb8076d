using System;
using System.Linq;
using SingLoRA.AdapterFiles;
using SingLoRA.Tests.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.AdapterFiles;

/// <summary>Adapter files with names, with the modules trained beside the adapters, and with dtype conversion on request.</summary>
public class AdapterFileControlTests
{
    private static Tensor Input(ScalarType dtype = ScalarType.Float32)
    {
        manual_seed(99);
        return randn(4, 8).to(dtype);
    }

    [Fact]
    public void A_named_adapter_is_saved_with_its_name_and_loads_into_a_new_slot_of_another_model()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        manual_seed(1);
        var source = new Net();
        source.AddAdapter("legal", o => o with { RampLength = 20 });
        source.SetActiveAdapter("legal");
        Helpers.Randomise(source, step: 12);
        var expected = source.forward(Input()).detach();

        var config = source.SaveAdapters(dir.Path);             // the active one
        Assert.Equal("legal", config.AdapterName);
        Assert.Equal(20, config.RampLength);
        Assert.Equal(12, config.Step);

        manual_seed(1);
        var target = new Net();                                 // same base weights, only the default adapter
        var defaultOut = target.forward(Input()).detach();
        target.LoadAdapters(dir.Path, adapterName: "legal");    // added with the file's options, not activated
        Assert.Equal(new[] { "default", "legal" }, target.AdapterNames());
        Assert.True(Reference.Identical(target.forward(Input()), defaultOut));
        target.SetActiveAdapter("legal");
        Assert.True(Reference.Identical(target.forward(Input()), expected));
        Assert.Equal(12, target.GetSingLoRALayers()[0].Adapter.RampStep);
    }

    [Fact]
    public void A_failed_load_into_a_new_slot_leaves_no_slot_behind()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        var source = new Net(nBlocks: 2);
        Helpers.Randomise(source, 3);
        source.SaveAdapters(dir.Path);
        var smaller = new Net(nBlocks: 1);
        var before = Helpers.Snapshot(smaller);
        var e = Assert.Throws<AdapterLoadException>(() => smaller.LoadAdapters(dir.Path, adapterName: "other"));
        Assert.Contains(e.Problems, p => p.StartsWith("Unexpected target: the config has 'blocks.1.q'"));
        Assert.Equal(new[] { "default" }, smaller.AdapterNames());
        Helpers.AssertUnchanged(smaller, before);
    }

    [Fact]
    public void A_head_trained_beside_the_adapters_is_saved_when_named_and_refused_otherwise()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        manual_seed(2);
        var source = new Net();
        var head = source.named_parameters().Where(p => p.name.StartsWith("head.", StringComparison.Ordinal)).Select(p => p.parameter).ToList();
        foreach (var p in head) p.requires_grad = true;         // trained with the adapters, as a classification head is
        Helpers.Randomise(source, 4);
        using (no_grad()) foreach (var p in head) p.add_(1.0);  // "trained"
        var expected = source.forward(Input()).detach();

        var refused = Assert.Throws<InvalidOperationException>(() => source.SaveAdapters(dir.Path));
        Assert.Contains("head.weight, head.bias", refused.Message);
        Assert.Contains("modulesToSave", refused.Message);
        Assert.False(System.IO.File.Exists(System.IO.Path.Combine(dir.Path, AdapterFile.ConfigFileName)));

        var config = source.SaveAdapters(dir.Path, modulesToSave: new[] { "head" });
        Assert.Equal(new[] { "head" }, config.ModulesToSave);
        manual_seed(2);
        var reloaded = new Net();
        Assert.False(Reference.Identical(reloaded.forward(Input()), expected));
        reloaded.LoadAdapters(dir.Path);
        Assert.True(Reference.Identical(reloaded.forward(Input()), expected));

        // Saving anyway is a choice that must be spelled out.
        source.SaveAdapters(dir.Path, allowUnsavedTrainable: true);
        Assert.Empty(AdapterFile.ReadConfig(dir.Path).ModulesToSave);
    }

    [Fact]
    public void Modules_to_save_must_exist_and_hold_no_adapters()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        var model = new Net();
        var e = Assert.Throws<InvalidOperationException>(() => model.SaveAdapters(dir.Path, modulesToSave: new[] { "haed", "blocks.0" }));
        Assert.Contains("'haed' is not a module of the model", e.Message);
        Assert.Contains("'blocks.0' holds adapted layers", e.Message);
    }

    [Fact]
    public void A_bf16_file_loads_into_a_float32_model_only_when_conversion_is_asked_for()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        manual_seed(3);
        var bf16 = new Net(options: new SingLoRAOptions(2, Alpha: 4, RampLength: 10, Precision: AdapterPrecision.SameAsBase), dtype: ScalarType.BFloat16);
        Helpers.Randomise(bf16, 10);
        bf16.SaveAdapters(dir.Path);

        var fp32 = new Net();
        var bf16Base = bf16.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using (no_grad())   // the same base weights (a Linear draws its init in its own dtype, so a seed is not enough)
            foreach (var (name, p) in fp32.named_parameters().Where(p => !p.name.Contains("singlora")))
                p.copy_(bf16Base[name]);
        var refused = Assert.Throws<AdapterLoadException>(() => fp32.LoadAdapters(dir.Path));
        Assert.Contains(refused.Problems, p => p.Contains("has dtype BF16 in the file but F32 in the model") && p.Contains("convert: true"));
        Assert.Contains(refused.Problems, p => p.Contains("dtype is BF16 in the config but F32 in the model"));

        fp32.LoadAdapters(dir.Path, convert: true);
        foreach (var ((_, a), (_, b)) in bf16.GetSingLoRALayers().Zip(fp32.GetSingLoRALayers()))
        {
            Assert.Equal(ScalarType.Float32, b.A.dtype);
            Assert.True(Reference.Identical(b.A, a.A.to_type(ScalarType.Float32)));   // bf16 -> fp32 is exact
        }
        // The outputs agree within bf16 rounding of the bf16 model.
        var diff = (fp32.forward(Input()) - bf16.forward(Input(ScalarType.BFloat16)).to_type(ScalarType.Float32)).abs().max().item<float>();
        Assert.True(diff < 0.05, $"max difference {diff}");
    }
}
