using System;
using System.Linq;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Runtime;

public class SingLoRALinearTests
{
    public static TheoryData<int, int, bool, int> Shapes()
    {
        var data = new TheoryData<int, int, bool, int>();
        foreach (var (dIn, dOut) in new[] { (96, 96), (128, 64), (64, 128) })
            foreach (var bias in new[] { true, false })
                foreach (var rank in new[] { 1, 2, 8, 32, 64 })
                    data.Add(dIn, dOut, bias, rank);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Forward_matches_the_float64_formula(int dIn, int dOut, bool bias, int rank)
    {
        using var scope = NewDisposeScope();
        manual_seed(1000 + dIn + 3 * dOut + rank + (bias ? 1 : 0));
        var layer = new SingLoRALinear(nn.Linear(dIn, dOut, hasBias: bias), new SingLoRAOptions(rank, Alpha: 12, RampLength: 40, Scaling: ScalingRule.AlphaOverRank));
        layer.SetRampStep(10); // u = 0.25, mid-ramp
        layer.eval();
        var x = randn(5, 7, dIn); // a batch of sequences: the adapter must handle leading dimensions
        var expected = Reference.SingLoRA(x, layer.weight, layer.bias, layer.A, 12.0 / rank, 0.25);

        var actual = layer.forward(x);

        Assert.Equal(new long[] { 5, 7, dOut }, actual.shape);
        Assert.True(Reference.RelativeError(actual, expected) < 1e-6, $"relative error {Reference.RelativeError(actual, expected):E2}");
        // The adapter path must really contribute: the result differs from the base layer.
        Assert.True(Reference.RelativeError(layer.Base.forward(x), expected) > 1e-4);
    }

    [Theory]
    [InlineData(ScalingRule.AlphaOverRank, 16.0 / 16)]
    [InlineData(ScalingRule.AlphaOverSqrtRank, 16.0 / 4)]
    public void Scaling_rules_give_alpha_over_r_or_alpha_over_sqrt_r(ScalingRule rule, double expectedScale)
    {
        using var scope = NewDisposeScope();
        var layer = new SingLoRALinear(nn.Linear(32, 32), new SingLoRAOptions(16, Alpha: 16, RampLength: 0, Scaling: rule));
        Assert.Equal(expectedScale, layer.Scale, 12);
        var x = randn(4, 32);
        var expected = Reference.SingLoRA(x, layer.weight, layer.bias, layer.A, expectedScale, 1.0);
        Assert.True(Reference.RelativeError(layer.forward(x), expected) < 1e-6);
    }

    [Theory]
    [InlineData(64, 64, 8, 64 * 8)]
    [InlineData(128, 32, 4, 128 * 4)]
    [InlineData(32, 128, 4, 128 * 4)]
    public void Trainable_parameters_are_n_times_r(int dIn, int dOut, int rank, long expected)
    {
        using var scope = NewDisposeScope();
        var layer = new SingLoRALinear(nn.Linear(dIn, dOut), new SingLoRAOptions(rank));
        Assert.Equal(new long[] { Math.Max(dIn, dOut), rank }, layer.A.shape);
        Assert.Equal(expected, layer.AdapterParameterCount);
        Assert.Equal(expected, layer.CountParameters().Trainable);
        Assert.Equal(expected + (long)dIn * dOut + dOut, layer.CountParameters().Total);
    }

    [Theory]
    [InlineData(0, 100, 0.0)]
    [InlineData(1, 100, 0.01)]
    [InlineData(50, 100, 0.5)]
    [InlineData(100, 100, 1.0)]
    [InlineData(250, 100, 1.0)]
    [InlineData(0, 0, 1.0)]
    [InlineData(7, 0, 1.0)]
    public void Ramp_is_min_of_t_over_T_and_one(long step, long rampLength, double expected)
    {
        Assert.Equal(expected, SingLoRALinear.RampValueAt(step, rampLength), 12);
        using var scope = NewDisposeScope();
        var layer = new SingLoRALinear(nn.Linear(8, 8), new SingLoRAOptions(2, RampLength: rampLength));
        layer.SetRampStep(step);
        Assert.Equal(expected, layer.RampValue, 12);
    }

    [Fact]
    public void Ramp_advances_only_on_optimizer_steps_not_on_forward_calls()
    {
        using var scope = NewDisposeScope();
        var layer = new SingLoRALinear(nn.Linear(8, 8), new SingLoRAOptions(2, RampLength: 10));
        for (int i = 0; i < 5; i++) layer.forward(randn(3, 8)); // forwards (micro-batches, evaluation) do not count
        Assert.Equal(0, layer.RampStep);
        layer.AdvanceRamp();
        layer.AdvanceRamp();
        Assert.Equal(2, layer.RampStep);
        Assert.Equal(0.2, layer.RampValue, 12);
    }

    [Fact]
    public void Output_at_step_zero_equals_the_base_layer_exactly()
    {
        using var scope = NewDisposeScope();
        var linear = nn.Linear(48, 24);
        var x = randn(6, 48);
        var before = linear.forward(x).clone();
        var layer = new SingLoRALinear(linear, new SingLoRAOptions(8, RampLength: 100, Init: AdapterInit.KaimingRank));
        Assert.True(Reference.Identical(layer.forward(x), before));
    }

    [Fact]
    public void Gradients_reach_A_only()
    {
        using var scope = NewDisposeScope();
        var layer = new SingLoRALinear(nn.Linear(16, 24), new SingLoRAOptions(4, RampLength: 10));
        layer.SetRampStep(5); // u > 0, so A gets a gradient
        layer.forward(randn(8, 16)).pow(2).sum().backward();
        Assert.False(layer.weight.requires_grad);
        Assert.False(layer.bias!.requires_grad);
        Assert.Null(layer.weight.grad);
        Assert.Null(layer.bias.grad);
        Assert.NotNull(layer.A.grad);
        Assert.True(layer.A.grad!.abs().sum().item<float>() > 0);
        Assert.Equal(new[] { "singlora_A" }, layer.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name));
    }

    [Fact]
    public void First_step_gradient_is_zero_because_u_of_zero_is_zero()
    {
        using var scope = NewDisposeScope();
        var layer = new SingLoRALinear(nn.Linear(16, 16), new SingLoRAOptions(4, RampLength: 10));
        layer.forward(randn(8, 16)).pow(2).sum().backward();
        Assert.Equal(0f, layer.A.grad!.abs().sum().item<float>());
    }

    [Fact]
    public void State_dict_keeps_the_base_keys_and_saves_the_step()
    {
        using var scope = NewDisposeScope();
        var layer = new SingLoRALinear(nn.Linear(16, 8), new SingLoRAOptions(4, RampLength: 50));
        layer.SetRampStep(17);
        var sd = layer.state_dict();
        Assert.Equal(new[] { "bias", "singlora_A", "singlora_step", "weight" }, sd.Keys.OrderBy(k => k, StringComparer.Ordinal));

        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"singlora-{Guid.NewGuid():N}.bin");
        try
        {
            layer.save(path);
            var fresh = new SingLoRALinear(nn.Linear(16, 8), new SingLoRAOptions(4, RampLength: 50));
            Assert.Equal(0, fresh.RampStep);
            fresh.load(path);
            Assert.Equal(17, fresh.RampStep);
            Assert.True(Reference.Identical(fresh.A, layer.A));
            Assert.True(Reference.Identical(fresh.weight, layer.weight));
            var x = randn(3, 16);
            Assert.True(fresh.forward(x).allclose(layer.forward(x)));
        }
        finally
        {
            System.IO.File.Delete(path);
        }
    }

    [Theory]
    [InlineData(AdapterInit.KaimingWidth, 256, 8)]
    [InlineData(AdapterInit.KaimingRank, 256, 8)]
    [InlineData(AdapterInit.Gaussian, 256, 8)]
    public void Init_options_have_their_documented_scale(AdapterInit init, int width, int rank)
    {
        using var scope = NewDisposeScope();
        manual_seed(7);
        var layer = new SingLoRALinear(nn.Linear(width, width), new SingLoRAOptions(rank, Init: init));
        var a = layer.A.detach();
        double maxAbs = a.abs().max().item<float>();
        double std = a.std().item<float>();
        switch (init)
        {
            case AdapterInit.KaimingWidth: // U(±1/√n): std = 1/√(3n)
                Assert.True(maxAbs <= 1 / Math.Sqrt(width) + 1e-7);
                Assert.InRange(std, 0.9 / Math.Sqrt(3.0 * width), 1.1 / Math.Sqrt(3.0 * width));
                break;
            case AdapterInit.KaimingRank: // U(±1/√r)
                Assert.True(maxAbs <= 1 / Math.Sqrt(rank) + 1e-7);
                Assert.InRange(std, 0.9 / Math.Sqrt(3.0 * rank), 1.1 / Math.Sqrt(3.0 * rank));
                break;
            case AdapterInit.Gaussian: // N(0, 1/n)
                Assert.InRange(std, 0.9 / Math.Sqrt(width), 1.1 / Math.Sqrt(width));
                break;
        }
    }

    [Fact]
    public void Adapter_is_created_on_the_base_dtype_and_moves_with_the_module()
    {
        using var scope = NewDisposeScope();
        var layer = new SingLoRALinear(nn.Linear(16, 16, dtype: ScalarType.Float64), new SingLoRAOptions(4));
        Assert.Equal(ScalarType.Float64, layer.A.dtype);
        layer.SetRampStep(3);
        layer.to(ScalarType.Float32);
        Assert.Equal(ScalarType.Float32, layer.A.dtype);
        Assert.Equal(ScalarType.Float32, layer.weight.dtype);
        Assert.Same(layer.Base.weight, layer.weight);
        Assert.Equal(ScalarType.Int64, layer.StepTensor.dtype);
        Assert.Equal(3, layer.RampStep);
        Assert.Equal(ScalarType.Float32, layer.state_dict()["weight"].dtype);
        Assert.Equal(ScalarType.Float32, layer.forward(randn(2, 16)).dtype);
        Assert.False(layer.weight.requires_grad);
        Assert.True(layer.A.requires_grad);
    }

    [Fact]
    public void Dropout_acts_on_the_adapter_path_only()
    {
        using var scope = NewDisposeScope();
        var layer = new SingLoRALinear(nn.Linear(32, 32), new SingLoRAOptions(4, RampLength: 0, Dropout: 0.5));
        var x = randn(16, 32);
        layer.train();
        var baseOut = layer.Base.forward(x);
        var expectedFull = Reference.SingLoRA(x, layer.weight, layer.bias, layer.A, layer.Scale, 1.0);
        var trainOut = layer.forward(x);
        Assert.False(trainOut.to_type(ScalarType.Float64).allclose(expectedFull, rtol: 1e-5, atol: 1e-6)); // some inputs dropped
        layer.eval();
        Assert.True(Reference.RelativeError(layer.forward(x), expectedFull) < 1e-6); // no dropout in evaluation
        // With u = 0 the adapter path vanishes, so dropout cannot touch the base output.
        layer.train();
        var rampLayer = new SingLoRALinear(nn.Linear(32, 32), new SingLoRAOptions(4, RampLength: 10, Dropout: 0.5));
        Assert.True(Reference.Identical(rampLayer.forward(x), rampLayer.Base.forward(x)));
        Assert.NotNull(baseOut);
    }

    [Fact]
    public void A_layer_can_be_wrapped_only_once()
    {
        using var scope = NewDisposeScope();
        var linear = nn.Linear(8, 8);
        var first = new SingLoRALinear(linear, new SingLoRAOptions(2));
        Assert.Same(first, AdaptedLinear.Wrapping(linear));
        var e = Assert.Throws<ArgumentException>(() => new SingLoRALinear(linear, new SingLoRAOptions(2)));
        Assert.Contains("already wrapped", e.Message);
    }
}
