using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA.Benchmarks.Harness;

/// <summary>The training-step variants compared on one layer.</summary>
public enum Variant
{
    /// <summary>The frozen base layer alone: forward and loss; nothing trains, so no backward and no optimizer step.</summary>
    Base,
    /// <summary><see cref="SingLoRALinear"/> as shipped: two thin products, ramp on the device.</summary>
    SingLoRA,
    /// <summary><see cref="LoRALinear"/> at the same rank.</summary>
    LoRAEqualRank,
    /// <summary><see cref="LoRALinear"/> with the rank that gives it SingLoRA's parameter count: <c>round(n·r / (d_in + d_out))</c>.</summary>
    LoRAEqualParams,
    /// <summary>Full fine-tuning: the layer's weight and bias train.</summary>
    FullFineTune,
    /// <summary>The foil: SingLoRA as the public Python implementations write it, building <c>ΔW</c> every forward.</summary>
    MaterialisingSingLoRA,
    /// <summary>
    /// The same math as <see cref="SingLoRA"/> in bare TorchSharp calls (no module, no checks, no dispose scope inside
    /// the forward, the ramp factor a host scalar): the cost predicted from the added operations alone.
    /// </summary>
    IdealSingLoRA,
}

/// <summary>A layer shape <c>d_in → d_out</c>, written <c>"512x2048"</c> (in x out).</summary>
public readonly record struct LayerShape(long In, long Out)
{
    /// <summary><c>n = max(d_in, d_out)</c>.</summary>
    public long Width => Math.Max(In, Out);

    /// <summary>Parses <c>"512"</c> (square) or <c>"512x2048"</c>.</summary>
    public static LayerShape Parse(string text)
    {
        var parts = text.Split('x');
        long a = long.Parse(parts[0], CultureInfo.InvariantCulture);
        return new LayerShape(a, parts.Length > 1 ? long.Parse(parts[1], CultureInfo.InvariantCulture) : a);
    }

    /// <inheritdoc />
    public override string ToString() => $"{In}x{Out}";
}

/// <summary>One layer, its data and optimizer, ready to take training steps (forward, backward, AdamW, all in a dispose scope).</summary>
public sealed class LayerStep : IDisposable
{
    /// <summary>The AdamW learning rate used by every variant.</summary>
    public const double LearningRate = 1e-3;

    private readonly optim.Optimizer? _optimizer;
    private readonly Tensor _x, _target;
    private readonly Func<Tensor, Tensor> _forward;
    private readonly Action _afterStep;

    private LayerStep(Variant variant, LayerShape shape, int rank, int rows, nn.Module module,
        Func<Tensor, Tensor> forward, IReadOnlyList<Parameter> trainable, Action? afterStep, Tensor x, Tensor target)
    {
        Variant = variant;
        Shape = shape;
        Rank = rank;
        Rows = rows;
        Module = module;
        _forward = forward;
        Trainable = trainable;
        _afterStep = afterStep ?? (() => { });
        _x = x;
        _target = target;
        if (trainable.Count > 0) _optimizer = optim.AdamW(trainable, lr: LearningRate);
    }

    /// <summary>Which variant this is.</summary>
    public Variant Variant { get; }

    /// <summary>The layer shape.</summary>
    public LayerShape Shape { get; }

    /// <summary>The nominal rank (SingLoRA's); <see cref="EffectiveRank"/> is the rank this variant actually uses.</summary>
    public int Rank { get; }

    /// <summary>Rows of the input batch.</summary>
    public int Rows { get; }

    /// <summary>The module (a <see cref="Linear"/>, an adapter, or the materialising foil).</summary>
    public nn.Module Module { get; }

    /// <summary>The tensors the optimizer updates.</summary>
    public IReadOnlyList<Parameter> Trainable { get; }

    /// <summary>The optimizer, or null for the frozen base.</summary>
    public optim.Optimizer? Optimizer => _optimizer;

    /// <summary>The input batch <c>[rows, d_in]</c>.</summary>
    public Tensor Input => _x;

    /// <summary>The rank this variant uses (LoRA at equal parameter count uses a smaller one); 0 where none.</summary>
    public int EffectiveRank => EffectiveRankOf(Variant, Shape, Rank);

    /// <summary>The LoRA rank with SingLoRA's parameter count at rank <paramref name="rank"/>: <c>round(n·r / (d_in + d_out))</c>, at least 1.</summary>
    public static int EqualParamsLoRARank(LayerShape shape, int rank) =>
        (int)Math.Max(1, Math.Round((double)shape.Width * rank / (shape.In + shape.Out), MidpointRounding.AwayFromZero));

    /// <summary>See <see cref="EffectiveRank"/>.</summary>
    public static int EffectiveRankOf(Variant variant, LayerShape shape, int rank) => variant switch
    {
        Variant.Base or Variant.FullFineTune => 0,
        Variant.LoRAEqualParams => EqualParamsLoRARank(shape, rank),
        _ => rank,
    };

    /// <summary>
    /// Builds a variant. The base layer's weights and the data depend only on <paramref name="seed"/> and the shape, so
    /// every variant adapts the same <c>W0</c> on the same batch. Its tensors belong to no dispose scope: dispose the step.
    /// </summary>
    public static LayerStep Create(Variant variant, LayerShape shape, int rank, int rows, int seed = 0, long rampLength = SingLoRAOptions.DefaultRampLength)
    {
        {
            manual_seed(seed);
            var linear = nn.Linear(shape.In, shape.Out);
            var x = randn(rows, shape.In);
            var target = randn(rows, shape.Out);
            manual_seed(seed + 1);
            LayerStep Make(nn.Module m, Func<Tensor, Tensor> f, IReadOnlyList<Parameter> p, Action? after = null) =>
                new(variant, shape, rank, rows, m, f, p, after, x, target);
            switch (variant)
            {
                case Variant.Base:
                    linear.weight.requires_grad = false;
                    linear.bias!.requires_grad = false;
                    return Make(linear, linear.forward, Array.Empty<Parameter>());
                case Variant.FullFineTune:
                    return Make(linear, linear.forward, new[] { linear.weight, linear.bias! });
                case Variant.SingLoRA:
                {
                    var layer = new SingLoRALinear(linear, new SingLoRAOptions(rank, RampLength: rampLength));
                    return Make(layer, layer.forward, layer.AdapterParameters, layer.AdvanceRamp);
                }
                case Variant.LoRAEqualRank:
                case Variant.LoRAEqualParams:
                {
                    var layer = new LoRALinear(linear, new LoRAOptions(EffectiveRankOf(variant, shape, rank)));
                    return Make(layer, layer.forward, layer.AdapterParameters);
                }
                case Variant.MaterialisingSingLoRA:
                {
                    var layer = new MaterialisingSingLoRALinear(linear, rank, SingLoRAOptions.DefaultAlpha, rampLength);
                    return Make(layer, layer.forward, new[] { layer.A }, layer.AdvanceRamp);
                }
                case Variant.IdealSingLoRA:
                {
                    var layer = new IdealSingLoRA(linear, rank, SingLoRAOptions.DefaultAlpha, rampLength);
                    return Make(layer, layer.Forward, new[] { layer.A }, layer.AdvanceRamp);
                }
                default:
                    throw new ArgumentOutOfRangeException(nameof(variant), variant, null);
            }
        }
    }

    /// <summary>The layer's output for the benchmark batch (no loss, no backward). The caller owns the result.</summary>
    public Tensor Forward() => _forward(_x);

    /// <summary>
    /// One training step in its own dispose scope: forward, MSE loss, and for trainable variants backward, AdamW step
    /// and the ramp advance. Returns nothing, so nothing escapes the scope.
    /// </summary>
    public void Step()
    {
        using var scope = NewDisposeScope();
        var loss = nn.functional.mse_loss(_forward(_x), _target);
        if (_optimizer is null) return;
        _optimizer.zero_grad();
        loss.backward();
        _optimizer.step();
        _afterStep();
    }

    /// <summary>Like <see cref="Step"/> but returns the loss (detached, outside the step's scope) for checks.</summary>
    public float StepAndLoss()
    {
        using var scope = NewDisposeScope();
        var loss = nn.functional.mse_loss(_forward(_x), _target);
        float value = loss.item<float>();
        if (_optimizer is null) return value;
        _optimizer.zero_grad();
        loss.backward();
        _optimizer.step();
        _afterStep();
        return value;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _optimizer?.Dispose();
        Module.Dispose();
        _x.Dispose();
        _target.Dispose();
    }
}
