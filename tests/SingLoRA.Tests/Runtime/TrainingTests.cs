using System;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Runtime;

public class TrainingTests
{
    /// <summary>
    /// A synthetic regression whose target is the frozen layer plus a symmetric PSD rank-4 update (which a square
    /// SingLoRA layer can express): a few hundred AdamW steps must remove most of the error.
    /// </summary>
    [Fact]
    public void SingLoRA_learns_a_low_rank_update_of_a_frozen_layer()
    {
        using var outer = NewDisposeScope();
        manual_seed(2024);
        const int d = 32, rank = 4, steps = 300;
        var layer = new SingLoRALinear(nn.Linear(d, d), new SingLoRAOptions(rank, Alpha: rank, RampLength: 30));
        var u = randn(d, rank) / Math.Sqrt(d) * 2;
        var target = (layer.weight.detach() + u.matmul(u.t())).detach();
        var optimizer = optim.AdamW(layer.AdapterParameters, lr: 2e-2);

        double Loss(Tensor x) => nn.functional.mse_loss(layer.forward(x), x.matmul(target.t())).item<float>();
        var probe = randn(256, d);
        double initial = Loss(probe);
        for (int step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            var x = randn(64, d);
            var loss = nn.functional.mse_loss(layer.forward(x), x.matmul(target.t()));
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            layer.AdvanceRamp();
        }
        double final = Loss(probe);
        Assert.Equal(steps, layer.RampStep);
        Assert.True(final < 0.05 * initial, $"loss {initial:G4} -> {final:G4}");
        Assert.False(layer.weight.requires_grad); // the base never moved
    }
}
