using System;
using SingLoRA.Tests.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Reliability;

/// <summary>Bad input to the runtime: each case gets a clear exception that says what to do, and nothing changes.</summary>
public class RuntimeBadInputTests
{
    [Fact]
    public void A_layer_with_a_zero_size_is_rejected()
    {
        using var scope = NewDisposeScope();
        // nn.Linear(0, 4) already fails inside LibTorch's init, so build the empty layer from its weight.
        var empty = nn.Linear(new TorchSharp.Modules.Parameter(zeros(4, 0)));
        var e = Assert.Throws<ArgumentException>(() => new SingLoRALinear(empty, new SingLoRAOptions(1)));
        Assert.Contains("at least 1", e.Message);
    }

    [Fact]
    public void Null_arguments_are_rejected_by_name()
    {
        Assert.Equal("baseLayer", Assert.Throws<ArgumentNullException>(() => new SingLoRALinear(null!, new SingLoRAOptions(1))).ParamName);
        using var scope = NewDisposeScope();
        Assert.Equal("options", Assert.Throws<ArgumentNullException>(() => new SingLoRALinear(nn.Linear(2, 2), null!)).ParamName);
    }

    [Fact]
    public void An_integer_base_layer_is_rejected()
    {
        using var scope = NewDisposeScope();
        var linear = nn.Linear(4, 4);
        linear.weight = new TorchSharp.Modules.Parameter(zeros(4, 4, dtype: ScalarType.Int32), requires_grad: false);
        Assert.Contains("floating-point", Assert.Throws<ArgumentException>(() => new SingLoRALinear(linear, new SingLoRAOptions(1))).Message);
    }

    [Fact]
    public void An_input_of_the_wrong_dtype_gets_an_error_that_says_how_to_convert_it()
    {
        using var scope = NewDisposeScope();
        var layer = new SingLoRALinear(nn.Linear(8, 8), new SingLoRAOptions(2));
        var e = Assert.Throws<ArgumentException>(() => layer.forward(randn(2, 8, dtype: ScalarType.Float64)));
        Assert.Contains("Float64", e.Message);
        Assert.Contains("model.to", e.Message);
    }

    [Fact]
    public void A_base_layer_moved_without_its_adapter_is_reported()
    {
        using var scope = NewDisposeScope();
        var linear = nn.Linear(8, 8);
        var layer = new SingLoRALinear(linear, new SingLoRAOptions(2));
        linear.to(ScalarType.Float64); // someone moved the wrapped layer alone
        var e = Assert.Throws<InvalidOperationException>(() => layer.forward(randn(2, 8, dtype: ScalarType.Float64)));
        Assert.Contains("moved alone", e.Message);
        layer.to(ScalarType.Float64); // the fix the message gives
        Assert.Equal(ScalarType.Float64, layer.forward(randn(2, 8, dtype: ScalarType.Float64)).dtype);
    }

    [Fact]
    public void Non_finite_base_weights_are_refused_by_safe_merge()
    {
        using var scope = NewDisposeScope();
        var layer = new SingLoRALinear(nn.Linear(8, 8), new SingLoRAOptions(2, RampLength: 0));
        using (no_grad()) layer.weight[0, 0] = tensor(float.NaN);
        var w = layer.weight.detach().clone();
        Assert.Throws<InvalidOperationException>(() => layer.SafeMerge());
        Assert.False(layer.IsMerged);
        Assert.True(w.isnan().eq(layer.weight.isnan()).all().item<bool>());
        Assert.True(Reference.Identical(w.nan_to_num(), layer.weight.nan_to_num()));
    }
}
