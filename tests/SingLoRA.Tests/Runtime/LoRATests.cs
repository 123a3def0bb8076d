using System;
using System.Linq;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Runtime;

public class LoRATests
{
    [Theory]
    [InlineData(64, 64, 1)]
    [InlineData(96, 32, 8)]
    [InlineData(32, 96, 32)]
    public void Forward_matches_the_float64_formula(int dIn, int dOut, int rank)
    {
        using var scope = NewDisposeScope();
        manual_seed(rank);
        var layer = new LoRALinear(nn.Linear(dIn, dOut), new LoRAOptions(rank, Alpha: 4));
        using (no_grad()) layer.B.normal_(0, 0.2);
        layer.eval();
        var x = randn(3, 5, dIn);
        var expected = Reference.LoRA(x, layer.weight, layer.bias, layer.A, layer.B, 4.0 / rank);
        Assert.True(Reference.RelativeError(layer.forward(x), expected) < 1e-6);
    }

    [Fact]
    public void B_starts_at_zero_so_the_layer_starts_as_the_base()
    {
        using var scope = NewDisposeScope();
        var linear = nn.Linear(16, 8);
        var x = randn(4, 16);
        var before = linear.forward(x).clone();
        var layer = new LoRALinear(linear, new LoRAOptions(4));
        Assert.Equal(0f, layer.B.abs().sum().item<float>());
        Assert.True(Reference.Identical(layer.forward(x), before));
        var bound = 1 / Math.Sqrt(16); // kaiming_uniform_(a = sqrt(5)) on [r, d_in]
        Assert.True(layer.A.abs().max().item<float>() <= bound + 1e-7);
    }

    [Theory]
    [InlineData(64, 64, 8)]
    [InlineData(96, 32, 4)]
    public void Trainable_parameters_are_d_in_plus_d_out_times_r(int dIn, int dOut, int rank)
    {
        using var scope = NewDisposeScope();
        var layer = new LoRALinear(nn.Linear(dIn, dOut), new LoRAOptions(rank));
        Assert.Equal((long)(dIn + dOut) * rank, layer.AdapterParameterCount);
        Assert.Equal(new[] { "lora_A", "lora_B" }, layer.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name));
    }

    [Fact]
    public void SingLoRA_holds_half_of_LoRAs_parameters_on_a_square_layer()
    {
        using var scope = NewDisposeScope();
        var s = new SingLoRALinear(nn.Linear(128, 128), new SingLoRAOptions(8));
        var l = new LoRALinear(nn.Linear(128, 128), new LoRAOptions(8));
        Assert.Equal(2 * s.AdapterParameterCount, l.AdapterParameterCount);
        var lHalf = new LoRALinear(nn.Linear(128, 128), new LoRAOptions(4)); // the equal-parameter comparison
        Assert.Equal(s.AdapterParameterCount, lHalf.AdapterParameterCount);
    }

    [Fact]
    public void LoRA_plus_gives_B_a_learning_rate_ratio_times_larger()
    {
        using var scope = NewDisposeScope();
        var model = nn.Sequential(("a", new LoRALinear(nn.Linear(8, 8), new LoRAOptions(2))), ("b", new LoRALinear(nn.Linear(8, 4), new LoRAOptions(2))));
        var groups = LoRAPlus.ParameterGroups(model, lr: 1e-3, ratio: 16);
        Assert.Equal(2, groups.Count);
        Assert.Equal(1e-3, groups[0].Options.LearningRate!.Value, 12);
        Assert.Equal(16e-3, groups[1].Options.LearningRate!.Value, 12);
        Assert.Equal(2, groups[0].Parameters.Count()); // the two A matrices (the bases are frozen)
        Assert.Equal(2, groups[1].Parameters.Count()); // the two B matrices
        var optimizer = LoRAPlus.AdamW(model, lr: 1e-3);
        model.forward(randn(3, 8)).sum().backward();
        optimizer.step();
        Assert.Throws<InvalidOperationException>(() => LoRAPlus.ParameterGroups(nn.Linear(2, 2), 1e-3));
    }
}
