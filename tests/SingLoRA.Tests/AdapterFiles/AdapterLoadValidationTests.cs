using System;
using System.IO;
using System.Linq;
using System.Text.Json.Nodes;
using SingLoRA.AdapterFiles;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.AdapterFiles;

/// <summary>Strict, all-or-nothing loading: every problem in one error, the model untouched.</summary>
public class AdapterLoadValidationTests
{
    private static (TempDir Dir, Net Source) Saved(int blocks = 2, SingLoRAOptions? options = null)
    {
        var dir = Helpers.NewDir();
        var source = new Net(blocks, options);
        Helpers.Randomise(source, 6);
        source.SaveAdapters(dir.Path);
        return (dir, source);
    }

    private static AdapterLoadException LoadFails(nn.Module model, string dir)
    {
        var before = Helpers.Snapshot(model);
        var merged = model.GetAdaptedLayers().Select(l => l.Layer.IsMerged).ToArray();
        var e = Assert.Throws<AdapterLoadException>(() => model.LoadAdapters(dir));
        Helpers.AssertUnchanged(model, before, merged);
        Assert.Contains("the model was not changed", e.Message);
        return e;
    }

    [Fact]
    public void The_unchanged_check_itself_sees_a_one_ulp_change_and_a_merge()
    {
        using var scope = NewDisposeScope();
        var model = new Net(1);
        var before = Helpers.Snapshot(model);
        using (no_grad()) model.GetSingLoRALayers()[1].Adapter.weight[0, 0] = model.GetSingLoRALayers()[1].Adapter.weight[0, 0].nextafter(tensor(10f));
        Assert.ThrowsAny<Exception>(() => Helpers.AssertUnchanged(model, before));
        var model2 = new Net(1);
        var before2 = Helpers.Snapshot(model2);
        Assert.ThrowsAny<Exception>(() => Helpers.AssertUnchanged(model2, before2, new[] { true, false }));
    }

    [Fact]
    public void One_error_names_every_problem()
    {
        using var scope = NewDisposeScope();
        var (dir, _) = Saved();
        using var _d = dir;
        Helpers.Tamper(dir.Path, tensors: t =>
        {
            t.Remove("blocks.0.q.singlora_A");                          // missing
            t["blocks.0.extra"] = zeros(3);                              // unexpected
            t["blocks.1.k.singlora_A"] = zeros(16, 3);                   // wrong shape
            t["blocks.1.q.singlora_A"] = t["blocks.1.q.singlora_A"].to(ScalarType.Float64);   // wrong dtype
        }, config: c => c["targets"]![2]!["alpha"] = 5.0);                // config disagrees with the model
        var e = LoadFails(new Net(), dir.Path);
        Assert.Contains(e.Problems, p => p.StartsWith("Missing tensor 'blocks.0.q.singlora_A'"));
        Assert.Contains(e.Problems, p => p.StartsWith("Unexpected tensor 'blocks.0.extra'"));
        Assert.Contains(e.Problems, p => p.Contains("'blocks.1.k.singlora_A' has shape [16, 3] in the file but [16, 2]"));
        Assert.Contains(e.Problems, p => p.Contains("'blocks.1.q.singlora_A' has dtype F64 in the file but F32"));
        Assert.Contains(e.Problems, p => p.Contains("'blocks.1.q': alpha is 5 in the config but 4 in the model"));
        foreach (var p in e.Problems) Assert.Contains(p, e.Message);
    }

    [Fact]
    public void Missing_and_unexpected_targets_are_named()
    {
        using var scope = NewDisposeScope();
        var (dir, _) = Saved(blocks: 2);
        using var _d = dir;
        var bigger = LoadFails(new Net(3), dir.Path);
        Assert.Contains(bigger.Problems, p => p.StartsWith("Missing target: the model adapts 'blocks.2.q'"));
        Assert.Contains(bigger.Problems, p => p.StartsWith("Missing tensor 'blocks.2.k.singlora_step'"));
        var smaller = LoadFails(new Net(1), dir.Path);
        Assert.Contains(smaller.Problems, p => p.StartsWith("Unexpected target: the config has 'blocks.1.q'"));
        Assert.Contains(smaller.Problems, p => p.StartsWith("Unexpected tensor 'blocks.1.q.singlora_A'"));
    }

    [Theory]
    [InlineData("rank")]
    [InlineData("alpha")]
    [InlineData("ramp")]
    [InlineData("scaling")]
    [InlineData("init")]
    [InlineData("dropout")]
    [InlineData("dtype")]
    public void Options_that_disagree_with_the_model_are_refused(string what)
    {
        using var scope = NewDisposeScope();
        var (dir, _) = Saved();
        using var _d = dir;
        var o = new SingLoRAOptions(2, Alpha: 4, RampLength: 10);
        var model = what switch
        {
            "rank" => new Net(options: o with { Rank = 4 }),
            "alpha" => new Net(options: o with { Alpha = 8 }),
            "ramp" => new Net(options: o with { RampLength = 20 }),
            "scaling" => new Net(options: o with { Scaling = ScalingRule.AlphaOverSqrtRank }),
            "init" => new Net(options: o with { Init = AdapterInit.KaimingRank }),
            "dropout" => new Net(options: o with { Dropout = 0.2 }),
            _ => new Net(dtype: ScalarType.Float64),
        };
        var e = LoadFails(model, dir.Path);
        string expected = what switch
        {
            "rank" => "rank is 2 in the config but 4 in the model",
            "alpha" => "alpha is 4 in the config but 8 in the model",
            "ramp" => "ramp_length is 10 in the config but 20 in the model",
            "scaling" => "scaling is AlphaOverRank in the config but AlphaOverSqrtRank in the model",
            "init" => "init is KaimingWidth in the config but KaimingRank in the model",
            "dropout" => "dropout is 0 in the config but 0.2 in the model",
            _ => "dtype is F32 in the config but F64 in the model",
        };
        Assert.Contains(e.Problems, p => p.Contains("'blocks.0.q': " + expected));
    }

    [Fact]
    public void Loading_into_a_merged_model_is_refused()
    {
        using var scope = NewDisposeScope();
        var (dir, _) = Saved();
        using var _d = dir;
        var model = new Net();
        model.SetRampStep(3);
        model.MergeAdapters();
        var e = LoadFails(model, dir.Path);
        Assert.Contains(e.Problems, p => p.Contains("'blocks.0.q' of the model is merged"));
    }

    [Fact]
    public void Files_from_different_saves_are_detected()
    {
        using var scope = NewDisposeScope();
        var (a, _) = Saved();
        var (b, _) = Saved();
        using var _a = a;
        using var _b = b;
        File.Copy(b.File(AdapterFile.WeightsFileName), a.File(AdapterFile.WeightsFileName), overwrite: true);
        var e = LoadFails(new Net(), a.Path);
        Assert.Contains("does not match adapter_config.json", e.Message);
    }

    [Fact]
    public void A_step_that_disagrees_with_the_config_is_refused()
    {
        using var scope = NewDisposeScope();
        var (dir, _) = Saved();
        using var _d = dir;
        Helpers.Tamper(dir.Path, config: c => c["targets"]![0]!["step"] = 99);
        var e = LoadFails(new Net(), dir.Path);
        Assert.Contains(e.Problems, p => p.Contains("'blocks.0.q': the config says step 99 but the tensors file holds step 6"));
    }

    [Theory]
    [InlineData("missing-config")]
    [InlineData("missing-weights")]
    [InlineData("config-not-json")]
    [InlineData("config-wrong-format")]
    [InlineData("config-future-version")]
    [InlineData("config-version-1")]
    [InlineData("config-bad-enum")]
    public void Broken_configs_give_a_clear_error(string how)
    {
        using var scope = NewDisposeScope();
        var (dir, _) = Saved();
        using var _d = dir;
        string config = dir.File(AdapterFile.ConfigFileName);
        switch (how)
        {
            case "missing-config": File.Delete(config); break;
            case "missing-weights": File.Delete(dir.File(AdapterFile.WeightsFileName)); break;
            case "config-not-json": File.WriteAllText(config, File.ReadAllText(config)[..40]); break;
            case "config-wrong-format": Helpers.FixConfig(dir.Path, c => c["format"] = "peft"); break;
            case "config-future-version": Helpers.FixConfig(dir.Path, c => c["format_version"] = 7); break;
            case "config-version-1": Helpers.FixConfig(dir.Path, c => c["format_version"] = 1); break;
            case "config-bad-enum": Helpers.FixConfig(dir.Path, c => c["targets"]![0]!["scaling"] = "alpha_times_pi"); break;
        }
        var e = LoadFails(new Net(), dir.Path);
        string expected = how switch
        {
            "missing-config" => "adapter_config.json not found",
            "missing-weights" => "adapter_model.safetensors not found",
            "config-wrong-format" => "has format 'peft'",
            "config-future-version" => "has format_version 7",
            "config-version-1" => "rename every \"ramp_steps\" key to \"ramp_length\"",
            _ => "is not a valid adapter config",
        };
        Assert.Contains(expected, e.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(9)]
    [InlineData(100)]
    public void Truncated_tensor_files_give_a_clear_error(int cut)
    {
        using var scope = NewDisposeScope();
        var (dir, _) = Saved();
        using var _d = dir;
        string weights = dir.File(AdapterFile.WeightsFileName);
        var bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..^cut]);
        var mismatch = LoadFails(new Net(), dir.Path);             // first line of defence: the checksum
        Assert.Contains("does not match", mismatch.Message);
        Helpers.FixConfig(dir.Path);                               // past the checksum: the reader must catch it
        var e = LoadFails(new Net(), dir.Path);
        Assert.Contains("truncated", e.Message);
        Assert.IsType<SafeTensorsFormatException>(e.InnerException);
    }

    [Fact]
    public void A_failed_merge_restore_puts_everything_back_exactly()
    {
        using var scope = NewDisposeScope();
        var dir = Helpers.NewDir();
        using var _d = dir;
        var source = new Net(1, dtype: ScalarType.BFloat16);
        Helpers.Randomise(source, 10);
        source.MergeAdapters();
        source.SaveAdapters(dir.Path);
        // The second target's A (float32 on this bf16 base) would overflow when merged: the first target merges fine,
        // then the second fails.
        Helpers.Tamper(dir.Path, tensors: t => t["blocks.0.k.singlora_A"] = full(new long[] { 16, 2 }, 1e30, dtype: ScalarType.Float32));
        var e = LoadFails(new Net(1, dtype: ScalarType.BFloat16), dir.Path);
        Assert.Contains("Restoring the saved merge state failed", e.Message);
    }
}
