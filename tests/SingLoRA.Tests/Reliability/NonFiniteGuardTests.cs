using System;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Reliability;

public class NonFiniteGuardTests
{
    private static (SingLoRALinear Layer, optim.Optimizer Optimizer) Setup(double lr = 1e-2)
    {
        var layer = new SingLoRALinear(nn.Linear(8, 8), new SingLoRAOptions(2, RampLength: 0));
        return (layer, optim.AdamW(layer.AdapterParameters, lr: lr));
    }

    private static Tensor TrainStep(SingLoRALinear layer, optim.Optimizer optimizer, Tensor x)
    {
        var loss = layer.forward(x).pow(2).mean();
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        layer.AdvanceRamp();
        return loss;
    }

    [Fact]
    public void A_clean_run_passes()
    {
        using var scope = NewDisposeScope();
        var (layer, optimizer) = Setup();
        using var guard = new NonFiniteGuard(layer);
        for (int i = 0; i < 20; i++)
        {
            using var step = NewDisposeScope();
            guard.AfterStep(TrainStep(layer, optimizer, randn(4, 8)));
        }
        Assert.Equal(20, guard.Step);
    }

    [Fact]
    public void A_NaN_input_stops_training_at_the_step_it_appeared()
    {
        using var scope = NewDisposeScope();
        var (layer, optimizer) = Setup();
        using var guard = new NonFiniteGuard(layer);
        var e = Assert.Throws<NonFiniteTrainingException>(() =>
        {
            for (int i = 1; i <= 20; i++)
            {
                using var step = NewDisposeScope();
                var x = randn(4, 8);
                if (i == 7) x[0, 0] = tensor(float.NaN);
                guard.AfterStep(TrainStep(layer, optimizer, x));
            }
        });
        Assert.Equal(7, e.Step);
        Assert.Contains("step 7", e.Message);
        Assert.Contains("the loss", e.Message);
        Assert.Contains("adapter", e.Message); // AdamW spread the NaN into A
    }

    [Fact]
    public void With_a_check_interval_the_first_bad_step_is_still_reported_exactly()
    {
        using var scope = NewDisposeScope();
        var (layer, optimizer) = Setup();
        using var guard = new NonFiniteGuard(layer, checkEvery: 5);
        int stoppedAfter = 0;
        var e = Assert.Throws<NonFiniteTrainingException>(() =>
        {
            for (int i = 1; i <= 20; i++)
            {
                using var step = NewDisposeScope();
                var x = randn(4, 8);
                if (i == 12) x.fill_(float.PositiveInfinity);
                stoppedAfter = i;
                guard.AfterStep(TrainStep(layer, optimizer, x));
            }
        });
        Assert.Equal(12, e.Step);
        Assert.Equal(15, stoppedAfter); // read back at the next check, not every step
    }

    [Fact]
    public void The_check_interval_must_be_positive()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<ArgumentOutOfRangeException>(() => new NonFiniteGuard(nn.Linear(2, 2), checkEvery: 0));
    }
}
