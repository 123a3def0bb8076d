using System;
using SingLoRA;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace SingLoRA.Benchmarks.Harness;

/// <summary>
/// Generated wiring: <c>q</c> and <c>k</c> are <see cref="Linear"/> fields; the generator wraps them at
/// <c>RegisterComponents()</c> and routes <c>q.forward(x)</c> / <c>k.forward(x)</c> through interceptors that look the
/// adapter up (<c>SingLoRA.Generation.InterceptedCalls.Route</c>).
/// </summary>
[SingLoRA(Rank = 8, Targets = "q,k")]
public sealed partial class GeneratedAttention : Module<Tensor, Tensor>
{
    private readonly Linear q, k, v;

    /// <summary>A single-head attention block of width <paramref name="d"/>.</summary>
    public GeneratedAttention(long d) : base(nameof(GeneratedAttention))
    {
        q = Linear(d, d);
        k = Linear(d, d);
        v = Linear(d, d);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var scores = q.forward(x).matmul(k.forward(x).t()).softmax(-1);
        return scores.matmul(v.forward(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>The same block with the adapters wired by hand: <see cref="SingLoRALinear"/> fields, called directly.</summary>
public sealed class HandAttention : Module<Tensor, Tensor>
{
    private readonly SingLoRALinear q, k;
    private readonly Linear v;

    /// <summary>A single-head attention block of width <paramref name="d"/>, adapters as <see cref="GeneratedAttention"/>'s.</summary>
    public HandAttention(long d) : base(nameof(HandAttention))
    {
        var options = new SingLoRAOptions(Rank: 8);
        q = new SingLoRALinear(Linear(d, d), options);
        k = new SingLoRALinear(Linear(d, d), options);
        v = Linear(d, d);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var scores = q.forward(x).matmul(k.forward(x).t()).softmax(-1);
        return scores.matmul(v.forward(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>Which wiring a <see cref="WiringStep"/> uses.</summary>
public enum Wiring
{
    /// <summary><see cref="GeneratedAttention"/>.</summary>
    Generated,
    /// <summary><see cref="HandAttention"/>.</summary>
    Hand,
}

/// <summary>A wired attention block with its data and AdamW, for timing and for the equivalence checks.</summary>
public sealed class WiringStep : IDisposable
{
    private readonly Tensor _x, _target;

    /// <summary>Builds the block; both wirings get the same weights (the hand one loads the generated one's state dict).</summary>
    public WiringStep(Wiring wiring, long d, int rows, int seed = 0)
    {
        manual_seed(seed);
        var generated = new GeneratedAttention(d);
        if (wiring == Wiring.Generated)
        {
            Model = generated;
        }
        else
        {
            var hand = new HandAttention(d);
            hand.load_state_dict(generated.state_dict());
            generated.Dispose();
            Model = hand;
        }
        Model.FreezeAllButAdapters();
        Optimizer = optim.AdamW(Model.AdapterParameters(), lr: LayerStep.LearningRate);
        manual_seed(seed + 7);
        _x = randn(rows, d);
        _target = randn(rows, d);
    }

    /// <summary>The block.</summary>
    public Module<Tensor, Tensor> Model { get; }

    /// <summary>Its AdamW over the adapter parameters.</summary>
    public optim.Optimizer Optimizer { get; }

    /// <summary>The block's output for the batch (caller owns it).</summary>
    public Tensor Forward() => Model.forward(_x);

    /// <summary>Forward, MSE loss, backward, AdamW, ramp advance, in a dispose scope. Returns the loss.</summary>
    public void Step()
    {
        using var scope = NewDisposeScope();
        var loss = nn.functional.mse_loss(Model.forward(_x), _target);
        Optimizer.zero_grad();
        loss.backward();
        Optimizer.step();
        Model.AdvanceRamp();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Optimizer.Dispose();
        Model.Dispose();
        _x.Dispose();
        _target.Dispose();
    }
}
