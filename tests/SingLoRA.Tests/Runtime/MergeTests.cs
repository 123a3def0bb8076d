using System;
using System.Collections.Generic;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Runtime;

public class MergeTests
{
    public static IEnumerable<object[]> Layers()
    {
        foreach (var (dIn, dOut) in new[] { (64, 64), (96, 32), (32, 96) })
        {
            yield return new object[] { "singlora", dIn, dOut };
            yield return new object[] { "lora", dIn, dOut };
        }
    }

    private static AdaptedLinear Make(string kind, int dIn, int dOut, ScalarType dtype = ScalarType.Float32, AdapterPrecision precision = AdapterPrecision.AtLeastFloat32)
    {
        var linear = nn.Linear(dIn, dOut, dtype: dtype);
        if (kind == "singlora")
        {
            var s = new SingLoRALinear(linear, new SingLoRAOptions(8, Alpha: 8, RampLength: 10, Init: AdapterInit.KaimingRank, Precision: precision));
            s.SetRampStep(4);
            return s;
        }
        var l = new LoRALinear(linear, new LoRAOptions(8, Alpha: 8));
        using (no_grad()) l.B.normal_(0, 0.1); // a trained B, so that the update is not zero
        return l;
    }

    [Theory]
    [MemberData(nameof(Layers))]
    public void Merged_forward_equals_unmerged_forward_and_unmerge_restores_W0(string kind, int dIn, int dOut)
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var layer = Make(kind, dIn, dOut);
        layer.eval();
        var x = randn(10, dIn);
        var w0 = layer.weight.detach().clone();
        var unmerged = layer.forward(x).detach().clone();

        layer.Merge();
        Assert.True(layer.IsMerged);
        Assert.False(Reference.Identical(layer.weight, w0));
        var merged = layer.forward(x);
        Assert.True(Reference.RelativeError(merged, unmerged) < 1e-6, $"merged vs unmerged {Reference.RelativeError(merged, unmerged):E2}");
        Assert.True(Reference.RelativeError(layer.weight, w0 + layer.DeltaWeight()) < 1e-6);

        layer.Unmerge();
        Assert.False(layer.IsMerged);
        Assert.True(Reference.RelativeError(layer.weight, w0) < 1e-6, $"unmerge error {Reference.RelativeError(layer.weight, w0):E2}");
        Assert.True(Reference.RelativeError(layer.forward(x), unmerged) < 1e-6);
    }

    [Fact]
    public void Merged_update_equals_the_formula()
    {
        using var scope = NewDisposeScope();
        var layer = (SingLoRALinear)Make("singlora", 40, 24);
        var a = layer.A.detach().to_type(ScalarType.Float64);
        var expected = a[..24].matmul(a[..40].t()) * (layer.Scale * 0.4);
        Assert.True(Reference.RelativeError(layer.DeltaWeight(), expected) < 1e-6);
    }

    [Fact]
    public void Unmerge_subtracts_what_merge_added_even_after_the_ramp_and_A_moved()
    {
        using var scope = NewDisposeScope();
        var layer = (SingLoRALinear)Make("singlora", 32, 32);
        var w0 = layer.weight.detach().clone();
        layer.Merge();
        Assert.Equal(layer.Scale * 0.4, layer.MergedScale!.Value, 12);
        layer.AdvanceRamp(); // u changes from 0.4 to 0.5
        using (no_grad()) layer.A.mul_(2); // and A changes (an optimizer step, a load)
        layer.Unmerge();
        Assert.True(Reference.RelativeError(layer.weight, w0) < 1e-6);
    }

    [Theory]
    [InlineData(AdapterPrecision.SameAsBase, ScalarType.BFloat16)]
    [InlineData(AdapterPrecision.AtLeastFloat32, ScalarType.Float32)]
    public void Bf16_base_merges_in_float32_and_unmerges_to_within_bf16_rounding(AdapterPrecision precision, ScalarType adapterType)
    {
        using var scope = NewDisposeScope();
        manual_seed(11);
        var layer = (SingLoRALinear)Make("singlora", 64, 64, ScalarType.BFloat16, precision);
        Assert.Equal(adapterType, layer.A.dtype);
        layer.eval();
        var x = randn(8, 64, dtype: ScalarType.BFloat16);
        var w0 = layer.weight.detach().clone();
        var expected = layer.weight.to_type(ScalarType.Float32) + layer.DeltaWeight();

        layer.Merge();
        Assert.Equal(ScalarType.BFloat16, layer.weight.dtype);
        // The merged weight is the float32 sum rounded once to bf16 (a bf16-only sum would round twice as often).
        Assert.True(Reference.Identical(layer.weight, expected.to_type(ScalarType.BFloat16)));
        layer.Unmerge();
        // bf16 keeps 8 significant bits: a merge and an unmerge cost at most one rounding (half an ulp, 2^-8
        // relative) of the merged weight and one of the restored weight, whatever the order of magnitude of ΔW.
        var err = (layer.weight.to_type(ScalarType.Float32) - w0.to_type(ScalarType.Float32)).abs();
        var bound = (expected.abs() + w0.to_type(ScalarType.Float32).abs()) * Math.Pow(2, -8) + 1e-12;
        Assert.True((err <= bound).all().item<bool>(), $"max excess {(err - bound).max().item<float>()}");
        Assert.True(err.max().item<float>() > 0, "bf16 rounding must show: the test would not see a float32 merge");
        Assert.NotNull(x);
    }

    [Theory]
    [InlineData("singlora")]
    [InlineData("lora")]
    public void Merging_twice_and_unmerging_an_unmerged_layer_are_clear_errors(string kind)
    {
        using var scope = NewDisposeScope();
        var layer = Make(kind, 16, 16);
        var e1 = Assert.Throws<InvalidOperationException>(() => layer.Unmerge());
        Assert.Contains("not merged", e1.Message);
        layer.Merge();
        var w = layer.weight.detach().clone();
        var e2 = Assert.Throws<InvalidOperationException>(() => layer.Merge());
        Assert.Contains("already merged", e2.Message);
        Assert.Throws<InvalidOperationException>(() => layer.SafeMerge());
        Assert.True(Reference.Identical(layer.weight, w));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Non_finite_updates_are_refused_with_the_weights_untouched(bool safe)
    {
        using var scope = NewDisposeScope();
        var layer = (SingLoRALinear)Make("singlora", 16, 16);
        using (no_grad()) layer.A[3, 1] = tensor(float.NaN);
        var w0 = layer.weight.detach().clone();
        var e = Assert.Throws<InvalidOperationException>(() => { if (safe) layer.SafeMerge(); else layer.Merge(); });
        Assert.Contains("non-finite", e.Message);
        Assert.False(layer.IsMerged);
        Assert.True(Reference.Identical(layer.weight, w0));
    }

    [Fact]
    public void A_float16_base_that_would_overflow_is_refused_by_both_merges()
    {
        using var scope = NewDisposeScope();
        var layer = new SingLoRALinear(nn.Linear(8, 8, dtype: ScalarType.Float16), new SingLoRAOptions(2, Alpha: 2, RampLength: 0));
        using (no_grad()) { layer.weight.fill_(60000); layer.A.fill_(100); } // finite update, but W0 + ΔW > 65504
        var w0 = layer.weight.detach().clone();
        Assert.False(layer.CanMerge(out var reason));
        Assert.Contains("non-finite", reason);
        Assert.Throws<InvalidOperationException>(() => layer.Merge());
        Assert.Throws<InvalidOperationException>(() => layer.SafeMerge());
        Assert.False(layer.IsMerged);
        Assert.True(Reference.Identical(layer.weight, w0));
    }

    [Fact]
    public void Safe_merge_checks_the_merged_weights_where_plain_merge_checks_the_update()
    {
        using var scope = NewDisposeScope();
        var layer = new SingLoRALinear(nn.Linear(4, 4), new SingLoRAOptions(1, Alpha: 1, RampLength: 0));
        using (no_grad()) { layer.weight.fill_(3e38f); layer.A.fill_(1e19f); } // ΔW = 1e38 is finite; W0 + ΔW is not
        var w0 = layer.weight.detach().clone();
        var e = Assert.Throws<InvalidOperationException>(() => layer.SafeMerge());
        Assert.Contains("untouched", e.Message);
        Assert.True(Reference.Identical(layer.weight, w0));
        Assert.False(layer.IsMerged);
    }

    [Fact]
    public void A_merged_layer_refuses_to_produce_or_accept_a_state_dict()
    {
        using var scope = NewDisposeScope();
        var layer = Make("singlora", 16, 16);
        var sd = layer.state_dict();
        layer.Merge();
        var e = Assert.Throws<InvalidOperationException>(() => layer.state_dict());
        Assert.Contains("Unmerge", e.Message);
        var w = layer.weight.detach().clone();
        Assert.Throws<InvalidOperationException>(() => layer.load_state_dict(sd));
        Assert.True(Reference.Identical(layer.weight, w));
    }
}
