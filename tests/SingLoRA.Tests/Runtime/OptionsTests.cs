using System;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Runtime;

public class OptionsTests
{
    [Theory]
    [InlineData(0, 16, 100, 0.0, "Rank")]
    [InlineData(-3, 16, 100, 0.0, "Rank")]
    [InlineData(4, 0, 100, 0.0, "Alpha")]
    [InlineData(4, -1, 100, 0.0, "Alpha")]
    [InlineData(4, double.NaN, 100, 0.0, "Alpha")]
    [InlineData(4, 16, -1, 0.0, "RampLength")]
    [InlineData(4, 16, 100, 1.0, "Dropout")]
    [InlineData(4, 16, 100, -0.1, "Dropout")]
    public void Invalid_options_are_rejected_with_the_name_and_the_valid_range(int rank, double alpha, long ramp, double dropout, string name)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => new SingLoRAOptions(rank, alpha, ramp, dropout).Validate());
        Assert.Equal(name, e.ParamName);
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public void Undefined_enum_values_are_rejected()
    {
        Assert.ThrowsAny<ArgumentException>(() => new SingLoRAOptions(4, Scaling: (ScalingRule)7).Validate());
        Assert.ThrowsAny<ArgumentException>(() => new SingLoRAOptions(4, Init: (AdapterInit)9).Validate());
    }

    [Fact]
    public void The_attribute_defaults_match_the_options_defaults()
    {
        var attribute = new SingLoRAAttribute { Rank = 8 };
        var options = new SingLoRAOptions(8);
        Assert.Equal(options.Alpha, attribute.Alpha);
        Assert.Equal(options.RampLength, attribute.RampLength);
        Assert.Equal(options.Dropout, attribute.Dropout);
        Assert.Equal(options.Scaling, attribute.Scaling);
        Assert.Equal(options.Init, attribute.Init);
    }

    [Fact]
    public void A_rank_larger_than_the_layer_is_rejected_with_the_largest_valid_rank()
    {
        using var scope = NewDisposeScope();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new SingLoRALinear(nn.Linear(64, 16), new SingLoRAOptions(17)));
        Assert.Contains("at most 16", e.Message);
        var ok = new SingLoRALinear(nn.Linear(64, 16), new SingLoRAOptions(16));
        Assert.Equal(new long[] { 64, 16 }, ok.A.shape);
    }

    [Fact]
    public void Negative_ramp_length_are_rejected()
    {
        using var scope = NewDisposeScope();
        var layer = new SingLoRALinear(nn.Linear(8, 8), new SingLoRAOptions(2));
        layer.SetRampStep(5);
        Assert.Throws<ArgumentOutOfRangeException>(() => layer.SetRampStep(-1));
        Assert.Equal(5, layer.RampStep);
    }
}
