using System;
using System.Collections.Generic;
using System.Linq;
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
/// <para>Named adapters: the layer holds one adapter named <see cref="AdaptedLinear.DefaultAdapterName"/> and can hold more
/// (<see cref="AddAdapter"/>), each with its own options, <c>A</c> and ramp step; one is active
/// (<see cref="AdaptedLinear.SetActiveAdapter"/>) and only it takes part in the forward, the merge and training (the others'
/// <c>A</c> do not require gradients). Switching swaps references: no tensor is copied.</para>
/// <para>State-dict keys: <c>weight</c>, <c>bias</c> (the base layer's, unchanged), <c>singlora_A</c>, <c>singlora_step</c>
/// for the default adapter, and <c>singlora_A@name</c>, <c>singlora_step@name</c> for another adapter called <c>name</c>.</para>
/// </remarks>
public sealed class SingLoRALinear : AdaptedLinear
{
    /// <summary>The state-dict name of the default adapter's <see cref="A"/>.</summary>
    public const string AdapterKey = "singlora_A";

    /// <summary>The state-dict name of the default adapter's step counter.</summary>
    public const string StepKey = "singlora_step";

    /// <summary>Wraps a pretrained layer. <paramref name="options"/> are validated; the layer's weight and bias are frozen.</summary>
    public SingLoRALinear(Linear baseLayer, SingLoRAOptions options)
        : base(nameof(SingLoRALinear), baseLayer, (options ?? throw new ArgumentNullException(nameof(options))).Validate())
    {
        Width = Math.Max(in_features, out_features);
        AddSlot(DefaultAdapterName, options);
    }

    /// <inheritdoc />
    public override string Kind => "singlora";

    /// <inheritdoc />
    private protected override void CreateTensors(AdapterSlot slot)
    {
        var options = (SingLoRAOptions)slot.Options;
        var device = Base.weight.device;
        var a = new Parameter(empty(new[] { Width, (long)options.Rank }, dtype: AdapterDType, device: device), requires_grad: true);
        Initialize(a, options.Init, Width, options.Rank);
        slot.Parameters.Add((AdapterKey, a));
        slot.Buffers.Add((StepKey, zeros(Array.Empty<long>(), dtype: ScalarType.Int64, device: device)));
    }

    /// <summary>The options of the active adapter.</summary>
    public override SingLoRAOptions Options => (SingLoRAOptions)base.Options;

    /// <summary><c>n = max(d_in, d_out)</c>, the number of rows of <see cref="A"/>.</summary>
    public long Width { get; }

    /// <summary>The ramp length <c>T</c> of the active adapter; 0 means no ramp.</summary>
    public long RampLength => Options.RampLength;

    /// <summary>The scale <c>s</c> of the active adapter (without the ramp).</summary>
    public double Scale => Options.Scale;

    /// <summary>The active adapter's trainable matrix <c>A</c>, shape <c>[max(d_in, d_out), r]</c>.</summary>
    public Parameter A => Active.Parameters[0].Value;

    /// <summary>The active adapter's step counter <c>t</c> as a 0-d int64 tensor on the layer's device (a registered buffer).</summary>
    public Tensor StepTensor => Active.Buffers[0].Value;

    /// <summary>The <c>A</c> of the adapter <paramref name="adapterName"/> (active or not).</summary>
    public Parameter AdapterMatrix(string adapterName) => Find(adapterName).Parameters[0].Value;

    /// <summary>The step counter of the adapter <paramref name="adapterName"/> (active or not).</summary>
    public Tensor AdapterStep(string adapterName) => Find(adapterName).Buffers[0].Value;

    /// <inheritdoc />
    public override SingLoRAOptions OptionsOf(string adapterName) => (SingLoRAOptions)base.OptionsOf(adapterName);

    /// <summary>
    /// Adds an adapter called <paramref name="adapterName"/> with <paramref name="options"/> (a fresh <c>A</c>, step 0), not
    /// active. Names are letters, digits, <c>_</c> and <c>-</c>, starting with a letter.
    /// </summary>
    /// <exception cref="ArgumentException">The name is invalid or taken, or the options do not fit this layer.</exception>
    public void AddAdapter(string adapterName, SingLoRAOptions options) => AddAdapterCore(adapterName, options);

    /// <summary>The number of optimizer steps the active adapter has counted (reads the device buffer: not for hot loops).</summary>
    public long RampStep => StepTensor.item<long>();

    /// <summary><c>u(t) = min(t / T, 1)</c> of the active adapter, or 1 when <c>T = 0</c> (reads the device buffer: not for hot loops).</summary>
    public double RampValue => RampValueAt(RampStep, RampLength);

    /// <summary><c>s · u(t)</c>.</summary>
    public override double CurrentScale => Scale * RampValue;

    /// <summary>The ramp function <c>u(t) = min(t / T, 1)</c>, with <c>u ≡ 1</c> for <c>T = 0</c>.</summary>
    public static double RampValueAt(long step, long rampLength)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, "The step must not be negative.");
        if (rampLength < 0) throw new ArgumentOutOfRangeException(nameof(rampLength), rampLength, "The ramp length must not be negative.");
        return rampLength == 0 ? 1.0 : Math.Min((double)step / rampLength, 1.0);
    }

    /// <summary>Counts one optimizer step: <c>t ← t + 1</c>. Call it right after <c>optimizer.step()</c>. No host sync.</summary>
    public void AdvanceRamp()
    {
        using var _ = no_grad();
        StepTensor.add_(1);
    }

    /// <summary>Sets the active adapter's step counter, for example when resuming. Throws for a negative step.</summary>
    public void SetRampStep(long step)
    {
        if (step < 0)
            throw new ArgumentOutOfRangeException(nameof(step), step, $"The ramp step counts optimizer steps and cannot be negative (got {step}). Use 0 to restart the ramp.");
        using var _ = no_grad();
        StepTensor.fill_(step);
    }

    /// <inheritdoc />
    protected override Tensor WithAdapterOutput(Tensor output, Tensor x)
    {
        var a = InComputeType(A, x.dtype);
        Tensor h;
        if (TransposeCopyLayoutOverride ?? x.device_type == DeviceType.CPU)
        {
            // CPU: work with a contiguous Aᵀ ([r, n], a copy of n·r values): both thin products then read row-major
            // [r, ·] operands, the layout CPU BLAS runs fastest for a small r (LoRA's A [r, d_in] has it). Measured 5-20%
            // off the training step (docs/performance.md). A itself keeps its [n, r] shape and state-dict key.
            var at = a.t().contiguous();
            h = x.mm((in_features == Width ? at : at.narrow(1, 0, in_features)).t());
            ScaleInPlace(h);
            return output.addmm(h, out_features == Width ? at : at.narrow(1, 0, out_features));
        }
        else
        {
            // GPU BLAS takes transposed operands for free: no copy of A (A_in and A_out are row blocks of A).
            h = x.mm(in_features == Width ? a : a.narrow(0, 0, in_features));
            ScaleInPlace(h);
            return output.addmm(h, (out_features == Width ? a : a.narrow(0, 0, out_features)).t());
        }
    }

    /// <summary>Test seam: forces the CPU layout (true) or the GPU layout (false) of the thin products on any device; null picks by device.</summary>
    internal static bool? TransposeCopyLayoutOverride { get; set; }

    // h ← s · u(t) · h, with u(t) read from the step buffer on the device (no host sync). The factor is float32, or
    // float64 for a float64 layer, so a float64 forward matches a float64 merge (which uses s · u on the host) to 1e-15.
    private void ScaleInPlace(Tensor h)
    {
        var options = Options;
        double scale = options.Scale;
        long rampLength = options.RampLength;
        if (rampLength == 0)
        {
            h.mul_(scale);
            return;
        }
        // s·u(t) = min(t · s/T, s). _step is int64: `mul` by a double makes a new float32 tensor (one kernel), and the
        // float64 cast is a new tensor too, so the in-place clamp never touches the buffer.
        var step = StepTensor;
        var factor = h.dtype == ScalarType.Float64 ? step.to_type(ScalarType.Float64).mul_(scale / rampLength) : step.mul(scale / rampLength);
        h.mul_(factor.clamp_max_(scale));
    }

    /// <inheritdoc />
    protected override Tensor UnscaledUpdate(IReadOnlyList<Tensor> adapterTensors, ScalarType computeType)
    {
        var a = adapterTensors[0].to_type(computeType);
        return a.narrow(0, 0, out_features).matmul(a.narrow(0, 0, in_features).t());
    }

    /// <inheritdoc />
    internal override AdapterFiles.AdapterTarget Describe(string path, string adapterName)
    {
        var options = OptionsOf(adapterName);
        return base.Describe(path, adapterName) with { RampLength = options.RampLength, Step = AdapterStep(adapterName).item<long>(), Init = options.Init };
    }

    /// <inheritdoc />
    internal override IEnumerable<string> CheckSaved(AdapterFiles.AdapterTarget saved, Func<string, Tensor?> savedTensor)
    {
        if (savedTensor(StepKey) is not { } step || step.dtype != ScalarType.Int64 || step.numel() != 1) yield break;   // named by the shape and dtype checks
        long value = step.item<long>();
        if (value < 0) yield return $"the saved ramp step is {value}; it cannot be negative.";
        if (saved.Step != value) yield return $"the config says step {(saved.Step is { } s ? s.ToString(System.Globalization.CultureInfo.InvariantCulture) : "(absent)")} but the tensors file holds step {value}.";
    }

    /// <inheritdoc />
    internal override void AddAdapterFrom(string adapterName, AdapterFiles.AdapterTarget saved) =>
        AddAdapter(adapterName, new SingLoRAOptions(saved.Rank, saved.Alpha, saved.RampLength ?? SingLoRAOptions.DefaultRampLength, saved.Dropout, saved.Scaling,
            saved.Init ?? AdapterInit.KaimingWidth, Precision));

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
        $"SingLoRALinear(in_features={in_features}, out_features={out_features}, rank={Rank}, alpha={Options.Alpha}, ramp_length={RampLength}, scaling={Options.Scaling}, init={Options.Init}" +
        (AdapterNames.Count > 1 ? $", adapters=[{string.Join(", ", AdapterNames)}], active={ActiveAdapter})" : ")");
}
