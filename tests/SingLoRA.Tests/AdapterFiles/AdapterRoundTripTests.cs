using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using SingLoRA.AdapterFiles;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.AdapterFiles;

/// <summary>Save, load and merged-export round trips.</summary>
public class AdapterRoundTripTests
{
    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Float64)]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void Save_then_load_restores_A_step_and_outputs(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        manual_seed(1);
        var source = new Net(dtype: dtype);
        Helpers.Randomise(source, step: 7);
        source.SaveAdapters(dir.Path);

        manual_seed(1);
        var target = new Net(dtype: dtype);           // same base weights, fresh adapters at step 0
        Assert.Equal(0, target.GetSingLoRALayers()[0].Adapter.RampStep);
        target.LoadAdapters(dir.Path);

        foreach (var ((path, a), (_, b)) in source.GetSingLoRALayers().Zip(target.GetSingLoRALayers()))
        {
            Assert.True(a.A.eq(b.A).all().item<bool>(), $"{path}.singlora_A differs");
            Assert.Equal(ScalarType.Int64, b.StepTensor.dtype);
            Assert.Equal(7, b.RampStep);
            // A is float32 on a 16-bit base (AdapterPrecision.AtLeastFloat32, the default), the base dtype otherwise.
            Assert.Equal(dtype is ScalarType.BFloat16 or ScalarType.Float16 ? ScalarType.Float32 : dtype, b.A.dtype);
        }
        var x = randn(4, 8).to(dtype);
        Assert.True(source.forward(x).eq(target.forward(x)).all().item<bool>());
    }

    [Fact]
    public void The_file_holds_exactly_the_adapter_keys_of_the_state_dict()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        var model = new Net();
        model.SaveAdapters(dir.Path);
        using var file = SafeTensors.Load(dir.File(AdapterFile.WeightsFileName));
        var adapterKeys = model.state_dict().Keys.Where(k => k.Contains(".singlora_")).ToArray();
        Assert.Equal(adapterKeys.OrderBy(k => k), file.Names.OrderBy(k => k));
        Assert.Contains("blocks.0.q.singlora_A", file.Names);
        Assert.Contains("blocks.1.k.singlora_step", file.Names);
        Assert.Equal(new long[] { 16, 2 }, file.Tensors["blocks.0.k.singlora_A"].shape);   // n = max(8, 16)
        Assert.Empty(file.Tensors["blocks.0.k.singlora_step"].shape);                      // a 0-d int64
        Assert.Equal("pt", file.Metadata["format"]);
    }

    [Fact]
    public void Config_is_PEFT_like_and_complete()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        var model = new Net(options: new SingLoRAOptions(2, Alpha: 4, RampLength: 10, Dropout: 0.1, Scaling: ScalingRule.AlphaOverSqrtRank, Init: AdapterInit.Gaussian));
        model.SetRampStep(3);
        var written = model.SaveAdapters(dir.Path);

        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File(AdapterFile.ConfigFileName)));
        var root = doc.RootElement;
        Assert.Equal("singlora-adapter", root.GetProperty("format").GetString());
        Assert.Equal(2, root.GetProperty("format_version").GetInt32());
        Assert.Equal("singlora", root.GetProperty("method").GetString());
        Assert.Equal(AdapterFile.LibraryVersion, root.GetProperty("library_version").GetString());
        Assert.False(string.IsNullOrEmpty(AdapterFile.LibraryVersion));
        Assert.Equal(2, root.GetProperty("r").GetInt32());
        Assert.Equal(4, root.GetProperty("alpha").GetDouble());
        Assert.Equal("alpha_over_sqrt_rank", root.GetProperty("scaling").GetString());
        Assert.Equal(10, root.GetProperty("ramp_length").GetInt64());
        Assert.Equal(3, root.GetProperty("step").GetInt64());
        Assert.Equal("gaussian", root.GetProperty("init").GetString());
        Assert.Equal(0.1, root.GetProperty("dropout").GetDouble());
        Assert.Equal("unmerged", root.GetProperty("merge_state").GetString());
        Assert.Equal(new[] { "blocks.0.q", "blocks.0.k", "blocks.1.q", "blocks.1.k" },
            root.GetProperty("target_modules").EnumerateArray().Select(e => e.GetString()));
        var k = root.GetProperty("targets")[1];
        Assert.Equal("blocks.0.k", k.GetProperty("path").GetString());
        Assert.Equal(8, k.GetProperty("in_features").GetInt64());
        Assert.Equal(16, k.GetProperty("out_features").GetInt64());
        Assert.Equal("F32", k.GetProperty("dtype").GetString());
        Assert.Equal(2, k.GetProperty("rank").GetInt32());
        Assert.Equal(10, k.GetProperty("ramp_length").GetInt64());
        Assert.Equal(3, k.GetProperty("step").GetInt64());
        // The ramp length has one name in C#, in Python and in the file (format 2; version 1 wrote ramp_steps); the top
        // level keeps PEFT's "r" for the rank, as python/ and docs/adapter-format.md read it.
        Assert.DoesNotContain(root.EnumerateObject(), p => p.Name is "rank" or "ramp_steps");
        Assert.DoesNotContain(k.EnumerateObject(), p => p.Name == "ramp_steps");
        Assert.Equal(new long[] { 16, 2 }, k.GetProperty("tensors").GetProperty("singlora_A").EnumerateArray().Select(e => e.GetInt64()));
        Assert.False(k.GetProperty("merged").GetBoolean());
        Assert.Equal(64, root.GetProperty("weights_sha256").GetString()!.Length);

        var read = AdapterFile.ReadConfig(dir.Path);
        Assert.Equal(written.WeightsSha256, read.WeightsSha256);
        Assert.Equal(written.Targets.Select(t => t.Path), read.Targets.Select(t => t.Path));
        Assert.Equal((2, 10L), (read.Rank, read.RampLength));
        Assert.Equal(10, read.Targets[1].RampLength);
    }

    [Fact]
    public void Merge_state_travels_with_the_adapter_even_when_the_ramp_moved_after_merging()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        manual_seed(2);
        var source = new Net();
        var baseWeights = source.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        Helpers.Randomise(source, step: 5);
        source.MergeAdapters();          // merged at u = 0.5
        source.AdvanceRamp();
        source.AdvanceRamp();            // step 7 now, but the merged update is still the u = 0.5 one
        source.SaveAdapters(dir.Path);
        Assert.Equal("merged", AdapterFile.ReadConfig(dir.Path).MergeState);

        manual_seed(2);
        var target = new Net();
        target.LoadAdapters(dir.Path);
        foreach (var ((path, a), (_, b)) in source.GetSingLoRALayers().Zip(target.GetSingLoRALayers()))
        {
            Assert.True(b.IsMerged, path);
            Assert.Equal(a.MergedScale, b.MergedScale);
            Assert.Equal(7, b.RampStep);
            Assert.True(a.weight.eq(b.weight).all().item<bool>(), $"{path}.weight differs");
        }
        var x = randn(4, 8);
        Assert.True(source.forward(x).eq(target.forward(x)).all().item<bool>());

        // Unmerging the loaded model gives back W0.
        target.UnmergeAdapters();
        foreach (var (name, w) in target.state_dict().Where(kv => kv.Key.EndsWith(".weight")))
            Assert.True(w.allclose(baseWeights[name], rtol: 0, atol: 1e-6), $"{name}: {(w - baseWeights[name]).abs().max().item<float>()}");
    }

    [Fact]
    public void Saving_a_merged_layer_whose_adapter_changed_since_merging_is_refused()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        var model = new Net();
        Helpers.Randomise(model, 10);
        model.MergeAdapters();
        using (no_grad()) model.GetSingLoRALayers()[0].Adapter.A.add_(1);
        var e = Assert.Throws<InvalidOperationException>(() => model.SaveAdapters(dir.Path));
        Assert.Contains("'blocks.0.q'", e.Message);
        Assert.Contains("UnmergeAdapters()", e.Message);
        Assert.False(File.Exists(dir.File(AdapterFile.WeightsFileName)));
    }

    [Fact]
    public void LoRA_layers_round_trip_too()
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        var source = nn.Sequential(("a", new SingLoRALinear(nn.Linear(6, 6), new SingLoRAOptions(2))), ("b", new LoRALinear(nn.Linear(6, 4), new LoRAOptions(2))));
        Helpers.Randomise(source, 4);
        var config = source.SaveAdapters(dir.Path);
        Assert.Equal("mixed", config.Method);
        Assert.Equal(new[] { "singlora", "lora" }, config.Targets.Select(t => t.Kind));

        var target = nn.Sequential(("a", new SingLoRALinear(nn.Linear(6, 6), new SingLoRAOptions(2))), ("b", new LoRALinear(nn.Linear(6, 4), new LoRAOptions(2))));
        target.LoadAdapters(dir.Path);
        foreach (var ((_, a), (_, b)) in source.GetAdaptedLayers().Zip(target.GetAdaptedLayers()))
            foreach (var (pa, pb) in a.AdapterParameters.Zip(b.AdapterParameters))
                Assert.True(pa.eq(pb).all().item<bool>());
        Assert.Equal(4, ((SingLoRALinear)target.GetAdaptedLayers()[0].Layer).RampStep);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Merged_export_loads_into_the_class_without_adapters(bool mergeFirst)
    {
        using var scope = NewDisposeScope();
        using var dir = Helpers.NewDir();
        var model = new Net();
        Helpers.Randomise(model, 5);
        if (mergeFirst) model.MergeAdapters();
        var before = Helpers.Snapshot(model);

        var dict = model.ExportMergedStateDict();
        Assert.DoesNotContain(dict.Keys, k => k.Contains("singlora"));
        var plain = new PlainNet();
        Assert.Equal(plain.state_dict().Keys.OrderBy(k => k), dict.Keys.OrderBy(k => k));
        plain.load_state_dict(dict);
        var x = randn(5, 8);
        Assert.True(plain.forward(x).allclose(model.forward(x), rtol: 1e-5, atol: 1e-5));
        Helpers.AssertUnchanged(model, before, Enumerable.Repeat(mergeFirst, 4).ToArray());

        // The same through a file: standard safetensors, loadable into the plain class.
        string path = dir.File("merged.safetensors");
        model.SaveMerged(path);
        var plain2 = new PlainNet();
        plain2.LoadSafeTensors(path);
        Assert.True(plain2.forward(x).eq(plain.forward(x)).all().item<bool>(), $"{(plain2.forward(x) - plain.forward(x)).abs().max().item<float>()}");
    }

    [Fact]
    public void Merged_export_refuses_non_finite_weights()
    {
        using var scope = NewDisposeScope();
        var model = new Net();
        model.SetRampStep(10);
        using (no_grad()) model.GetSingLoRALayers()[2].Adapter.A.fill_(float.NaN);
        var e = Assert.Throws<InvalidOperationException>(() => model.ExportMergedStateDict());
        Assert.Contains("blocks.1.q.weight", e.Message);
    }
}
