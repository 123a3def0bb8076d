using System;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA.Benchmarks.Harness;

/// <summary>
/// The foil: SingLoRA written the way the public Python implementations write it. Every forward builds the full
/// update <c>ΔW = A_out A_inᵀ</c> (<c>d_out × d_in</c>), adds it to the frozen weight and calls <c>linear</c> with the
/// sum, so backward also forms the full <c>d_out × d_in</c> gradient of that weight. The ramp factor is a host
/// number, as there. Benchmark code only: the product (<see cref="SingLoRALinear"/>) never builds <c>ΔW</c> in a forward.
/// </summary>
public sealed class MaterialisingSingLoRALinear : nn.Module<Tensor, Tensor>
{
    private readonly Linear _base;
    private readonly Parameter _a;
    private readonly long _in, _out, _rampLength;
    private readonly double _scale;
    private long _step;

    /// <summary>Wraps <paramref name="baseLayer"/> (frozen) with <c>A</c> of shape <c>[max(d_in, d_out), rank]</c>, initialised as <see cref="AdapterInit.KaimingWidth"/>.</summary>
    public MaterialisingSingLoRALinear(Linear baseLayer, int rank, double alpha, long rampLength) : base(nameof(MaterialisingSingLoRALinear))
    {
        _base = baseLayer;
        _in = baseLayer.in_features;
        _out = baseLayer.out_features;
        long n = Math.Max(_in, _out);
        _scale = alpha / rank;
        _rampLength = rampLength;
        baseLayer.weight.requires_grad = false;
        baseLayer.bias!.requires_grad = false;
        using (no_grad())
        {
            _a = new Parameter(empty(n, rank), requires_grad: true);
            nn.init.uniform_(_a, -1.0 / Math.Sqrt(n), 1.0 / Math.Sqrt(n));
        }
        register_module("base", baseLayer);
        register_parameter("A", _a);
    }

    /// <summary>The trainable matrix.</summary>
    public Parameter A => _a;

    /// <summary>The optimizer steps counted so far (a host counter, as in the Python implementations).</summary>
    public long Step { get => _step; set => _step = value; }

    /// <summary>One optimizer step was taken.</summary>
    public void AdvanceRamp() => _step++;

    private double Ramp => _rampLength == 0 ? 1.0 : Math.Min((double)_step / _rampLength, 1.0);

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var delta = _a.narrow(0, 0, _out).matmul(_a.narrow(0, 0, _in).t());   // ΔW, d_out × d_in, every step
        var weight = _base.weight.add(delta, alpha: _scale * Ramp);
        return nn.functional.linear(x, weight, _base.bias).MoveToOuterDisposeScope();
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) _base.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>
/// SingLoRA's training math in the fewest TorchSharp calls: <c>linear(x, W0, b) + ((x A_in) · s·u) A_outᵀ</c> with the
/// ramp factor a host number and no checks or scopes. Its step time is the cost predicted from the operations SingLoRA
/// adds to the frozen layer; <see cref="SingLoRALinear"/> is measured against it.
/// </summary>
public sealed class IdealSingLoRA : nn.Module
{
    private readonly Linear _base;
    private readonly Parameter _a;
    private readonly long _in, _out, _rampLength;
    private readonly double _scale;
    private long _step;

    /// <summary>Wraps <paramref name="baseLayer"/> (frozen).</summary>
    public IdealSingLoRA(Linear baseLayer, int rank, double alpha, long rampLength) : base(nameof(IdealSingLoRA))
    {
        _base = baseLayer;
        _in = baseLayer.in_features;
        _out = baseLayer.out_features;
        long n = Math.Max(_in, _out);
        _scale = alpha / rank;
        _rampLength = rampLength;
        baseLayer.weight.requires_grad = false;
        baseLayer.bias!.requires_grad = false;
        using (no_grad())
        {
            _a = new Parameter(empty(n, rank), requires_grad: true);
            nn.init.uniform_(_a, -1.0 / Math.Sqrt(n), 1.0 / Math.Sqrt(n));
        }
        register_module("base", baseLayer);
        register_parameter("A", _a);
    }

    /// <summary>The trainable matrix.</summary>
    public Parameter A => _a;

    /// <summary>One optimizer step was taken.</summary>
    public void AdvanceRamp() => _step++;

    /// <summary>The forward (temporaries go to the caller's dispose scope).</summary>
    public Tensor Forward(Tensor x)
    {
        double u = _rampLength == 0 ? 1.0 : Math.Min((double)_step / _rampLength, 1.0);
        return nn.functional.linear(x, _base.weight, _base.bias)
            .add_(x.matmul(_a.narrow(0, 0, _in)).mul_(_scale * u).matmul(_a.narrow(0, 0, _out).t()));
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing) _base.Dispose();
        base.Dispose(disposing);
    }
}
