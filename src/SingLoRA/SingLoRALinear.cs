using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA;

/// <summary>
/// A frozen <see cref="Linear"/> adapted with SingLoRA: <c>y = x W0ᵀ + b + s · u(t) · (dropout(x) · A_in) · A_outᵀ</c>.
/// </summary>
/// <remarks>
/// <para>One trainable matrix <c>A</c> of shape <c>[n, r]</c>, <c>n = max(d_in, d_out)</c>; <c>A_in = A[:d_in]</c>,
/// <c>A_out = A[:d_out]</c>, so <c>ΔW = A_out A_inᵀ</c> (<c>A Aᵀ</c> for a square layer, the paper's truncation for
/// non-square ones). <c>s</c> is <c>alpha / r</c> or <c>alpha / sqrt(r)</c>; <c>u(t) = min(t / T, 1)</c> is the ramp,
/// with <c>t</c> the number of optimizer steps taken (advance it with <see cref="AdvanceRamp"/> once per
/// <c>optimizer.step()</c>) kept in the registered buffer <c>singlora_step</c>, so it is saved with the state dict.
/// <c>T = 0</c> means <c>u ≡ 1</c>.</para>
/// <para>State-dict keys: <c>weight</c>, <c>bias</c> (the base layer's, unchanged), <c>singlora_A</c>, <c>singlora_step</c>.</para>
/// </remarks>
public sealed class SingLoRALinear : AdaptedLinear
{
    private static readonly ConditionalWeakTable<Linear, SingLoRALinear> s_byBase = new();

    /// <summary>The state-dict name of <see cref="A"/>.</summary>
    public const string AdapterKey = "singlora_A";

    /// <summary>The state-dict name of the step counter.</summary>
    public const string StepKey = "singlora_step";

    [TorchSharp.Utils.ComponentName(Name = AdapterKey)]
    private Parameter _a;

    [TorchSharp.Utils.ComponentName(Name = StepKey)]
    private Tensor _step;

    private readonly double _scale;

    /// <summary>Wraps a pretrained layer. <paramref name="options"/> are validated; the layer's weight and bias are frozen.</summary>
    public SingLoRALinear(Linear baseLayer, SingLoRAOptions options)
        : base(nameof(SingLoRALinear), baseLayer, (options ?? throw new ArgumentNullException(nameof(options))).Validate().Rank, options.Dropout, options.Precision)
    {
        Options = options;
        Width = Math.Max(InFeatures, OutFeatures);
        _scale = options.Scale;
        var w = baseLayer.weight;
        using (no_grad())
        {
            _a = new Parameter(empty(new[] { Width, (long)options.Rank }, dtype: AdapterDType, device: w.device), requires_grad: true);
            Initialize(_a, options.Init, Width, options.Rank);
            _step = zeros(Array.Empty<long>(), dtype: ScalarType.Int64, device: w.device);
        }
        register_parameter(AdapterKey, _a);
        register_buffer(StepKey, _step);
        if (!s_byBase.TryAdd(baseLayer, this))
            throw new ArgumentException("This Linear layer is already wrapped by another SingLoRALinear; wrap each layer once.", nameof(baseLayer));
    }

    /// <summary>The options this adapter was built with.</summary>
    public SingLoRAOptions Options { get; }

    /// <summary>The rank <c>r</c>.</summary>
    public int Rank => Options.Rank;

    /// <summary><c>n = max(d_in, d_out)</c>, the number of rows of <see cref="A"/>.</summary>
    public long Width { get; }

    /// <summary>The ramp length <c>T</c>; 0 means no ramp.</summary>
    public long RampSteps => Options.RampSteps;

    /// <summary>The scale <c>s</c> (without the ramp).</summary>
    public double Scale => _scale;

    /// <summary>The single trainable matrix <c>A</c>, shape <c>[max(d_in, d_out), r]</c>.</summary>
    public Parameter A => _a;

    /// <summary>The step counter <c>t</c> as a 0-d int64 tensor on the layer's device (a registered buffer).</summary>
    public Tensor StepTensor => _step;

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> AdapterParameters => new[] { _a };

    /// <summary>The number of optimizer steps counted so far (reads the device buffer: not for hot loops).</summary>
    public long RampStep => _step.item<long>();

    /// <summary><c>u(t) = min(t / T, 1)</c>, or 1 when <c>T = 0</c> (reads the device buffer: not for hot loops).</summary>
    public double RampValue => RampValueAt(RampStep, RampSteps);

    /// <summary><c>s · u(t)</c>.</summary>
    public override double CurrentScale => _scale * RampValue;

    /// <summary>The ramp function <c>u(t) = min(t / T, 1)</c>, with <c>u ≡ 1</c> for <c>T = 0</c>.</summary>
    public static double RampValueAt(long step, long rampSteps)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, "The step must not be negative.");
        if (rampSteps < 0) throw new ArgumentOutOfRangeException(nameof(rampSteps), rampSteps, "The ramp length must not be negative.");
        return rampSteps == 0 ? 1.0 : Math.Min((double)step / rampSteps, 1.0);
    }

    /// <summary>Counts one optimizer step: <c>t ← t + 1</c>. Call it right after <c>optimizer.step()</c>. No host sync.</summary>
    public void AdvanceRamp()
    {
        using var _ = no_grad();
        _step.add_(1);
    }

    /// <summary>Sets the step counter, for example when resuming. Throws for a negative step.</summary>
    public void SetRampStep(long step)
    {
        if (step < 0)
            throw new ArgumentOutOfRangeException(nameof(step), step, $"The ramp step counts optimizer steps and cannot be negative (got {step}). Use 0 to restart the ramp.");
        using var _ = no_grad();
        _step.fill_(step);
    }

    /// <summary>The adapter created for <paramref name="baseLayer"/>, or null when it is not wrapped.</summary>
    public static SingLoRALinear? For(Linear baseLayer) => s_byBase.TryGetValue(baseLayer, out var adapter) ? adapter : null;

    /// <inheritdoc />
    protected override void AddAdapterOutput(Tensor output, Tensor x)
    {
        var a = InComputeType(_a, x.dtype);
        Tensor h;
        if (TransposeCopyLayoutOverride ?? x.device_type == DeviceType.CPU)
        {
            // CPU: work with a contiguous Aᵀ ([r, n], a copy of n·r values): both thin products then read row-major
            // [r, ·] operands, the layout CPU BLAS runs fastest for a small r (LoRA's A [r, d_in] has it). Measured 5-20%
            // off the training step (docs/performance.md). A itself keeps its [n, r] shape and state-dict key.
            var at = a.t().contiguous();
            h = x.mm((InFeatures == Width ? at : at.narrow(1, 0, InFeatures)).t());
            ScaleInPlace(h);
            output.addmm_(h, OutFeatures == Width ? at : at.narrow(1, 0, OutFeatures));
        }
        else
        {
            // GPU BLAS takes transposed operands for free: no copy of A (A_in and A_out are row blocks of A).
            h = x.mm(InFeatures == Width ? a : a.narrow(0, 0, InFeatures));
            ScaleInPlace(h);
            output.addmm_(h, (OutFeatures == Width ? a : a.narrow(0, 0, OutFeatures)).t());
        }
    }

    /// <summary>Test seam: forces the CPU layout (true) or the GPU layout (false) of the thin products on any device; null picks by device.</summary>
    internal static bool? TransposeCopyLayoutOverride { get; set; }

    // h ← s · u(t) · h, with u(t) read from the step buffer on the device (no host sync). The factor is float32, or
    // float64 for a float64 layer, so a float64 forward matches a float64 merge (which uses s · u on the host) to 1e-15.
    private void ScaleInPlace(Tensor h)
    {
        if (RampSteps == 0)
        {
            h.mul_(_scale);
            return;
        }
        // s·u(t) = min(t · s/T, s). _step is int64: `mul` by a double makes a new float32 tensor (one kernel), and the
        // float64 cast is a new tensor too, so the in-place clamp never touches the buffer.
        var factor = h.dtype == ScalarType.Float64 ? _step.to_type(ScalarType.Float64).mul_(_scale / RampSteps) : _step.mul(_scale / RampSteps);
        h.mul_(factor.clamp_max_(_scale));
    }

    /// <inheritdoc />
    protected override void OnAdapterTensorMoved(string name, Tensor moved)
    {
        switch (name)
        {
            case AdapterKey: _a = (Parameter)moved; break;
            case StepKey: _step = moved; break;
            default: throw new InvalidOperationException($"SingLoRALinear has no tensor named '{name}'.");
        }
    }

    /// <inheritdoc />
    protected override Tensor UnscaledUpdate(IReadOnlyList<Tensor> adapterTensors, ScalarType computeType)
    {
        var a = adapterTensors[0].to_type(computeType);
        return a.narrow(0, 0, OutFeatures).matmul(a.narrow(0, 0, InFeatures).t());
    }

    /// <summary>Fills <paramref name="a"/> (shape <c>[n, r]</c>) according to <paramref name="init"/>.</summary>
    internal static void Initialize(Tensor a, AdapterInit init, long width, int rank)
    {
        using var _ = no_grad();
        switch (init)
        {
            case AdapterInit.KaimingWidth:
                nn.init.uniform_(a, -1.0 / Math.Sqrt(width), 1.0 / Math.Sqrt(width));
                break;
            case AdapterInit.KaimingRank:
                nn.init.uniform_(a, -1.0 / Math.Sqrt(rank), 1.0 / Math.Sqrt(rank));
                break;
            case AdapterInit.Gaussian:
                nn.init.normal_(a, 0.0, 1.0 / Math.Sqrt(width));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(init), init, "Unknown AdapterInit value.");
        }
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"SingLoRALinear(in_features={InFeatures}, out_features={OutFeatures}, rank={Rank}, alpha={Options.Alpha}, ramp_steps={RampSteps}, scaling={Options.Scaling}, init={Options.Init})";
}
