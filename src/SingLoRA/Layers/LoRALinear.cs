using System;
using System.Collections.Generic;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA;

/// <summary>
/// The LoRA baseline on a frozen <see cref="Linear"/>: <c>y = x W0ᵀ + b + s · (dropout(x) Aᵀ) Bᵀ</c>, with <c>A</c>
/// <c>[r, d_in]</c> Kaiming-uniform (<c>a = sqrt(5)</c>) and <c>B</c> <c>[d_out, r]</c> zeros, under the same merge rules
/// as <see cref="SingLoRALinear"/>. Named adapters work as for <see cref="SingLoRALinear"/> (each with its own options,
/// <c>A</c> and <c>B</c>). State-dict keys: <c>weight</c>, <c>bias</c>, <c>lora_A</c>, <c>lora_B</c> (and
/// <c>lora_A@name</c>, <c>lora_B@name</c> for another adapter called <c>name</c>).
/// </summary>
public sealed class LoRALinear : AdaptedLinear
{
    /// <summary>The state-dict name of <see cref="A"/>.</summary>
    public const string AKey = "lora_A";

    /// <summary>The state-dict name of <see cref="B"/>.</summary>
    public const string BKey = "lora_B";

    /// <summary>Wraps a pretrained layer. <paramref name="options"/> are validated; the layer's weight and bias are frozen.</summary>
    public LoRALinear(Linear baseLayer, LoRAOptions options)
        : base(nameof(LoRALinear), baseLayer, (options ?? throw new ArgumentNullException(nameof(options))).Validate())
    {
        AddSlot(DefaultAdapterName, options);
    }

    /// <inheritdoc />
    public override string Kind => "lora";

    /// <inheritdoc />
    private protected override void CreateTensors(AdapterSlot slot)
    {
        var device = Base.weight.device;
        var a = new Parameter(empty(new[] { (long)slot.Options.Rank, in_features }, dtype: AdapterDType, device: device), requires_grad: true);
        nn.init.kaiming_uniform_(a, a: Math.Sqrt(5));
        var b = new Parameter(zeros(new[] { out_features, (long)slot.Options.Rank }, dtype: AdapterDType, device: device), requires_grad: true);
        slot.Parameters.Add((AKey, a));
        slot.Parameters.Add((BKey, b));
    }

    /// <summary>The options of the active adapter.</summary>
    public override LoRAOptions Options => (LoRAOptions)base.Options;

    /// <inheritdoc />
    public override LoRAOptions OptionsOf(string adapterName) => (LoRAOptions)base.OptionsOf(adapterName);

    /// <summary>The active adapter's down projection <c>A</c>, shape <c>[r, d_in]</c>.</summary>
    public Parameter A => Active.Parameters[0].Value;

    /// <summary>The active adapter's up projection <c>B</c>, shape <c>[d_out, r]</c>, zero-initialised.</summary>
    public Parameter B => Active.Parameters[1].Value;

    /// <summary>
    /// Adds an adapter called <paramref name="adapterName"/> with <paramref name="options"/> (fresh <c>A</c> and zero
    /// <c>B</c>), not active. Names are letters, digits, <c>_</c> and <c>-</c>, starting with a letter.
    /// </summary>
    /// <exception cref="ArgumentException">The name is invalid or taken, or the options do not fit this layer.</exception>
    public void AddAdapter(string adapterName, LoRAOptions options) => AddAdapterCore(adapterName, options);

    /// <inheritdoc />
    public override double CurrentScale => Options.Scale;

    /// <inheritdoc />
    protected override Tensor WithAdapterOutput(Tensor output, Tensor x) =>
        output.addmm(x.mm(InComputeType(A, x.dtype).t()).mul_(Options.Scale), InComputeType(B, x.dtype).t());

    /// <inheritdoc />
    protected override Tensor UnscaledUpdate(IReadOnlyList<Tensor> adapterTensors, ScalarType computeType) =>
        adapterTensors[1].to_type(computeType).matmul(adapterTensors[0].to_type(computeType));

    /// <inheritdoc />
    internal override void AddAdapterFrom(string adapterName, AdapterFiles.AdapterTarget saved) =>
        AddAdapter(adapterName, new LoRAOptions(saved.Rank, saved.Alpha, saved.Dropout, saved.Scaling, Precision));

    /// <inheritdoc />
    public override string ToString() =>
        $"LoRALinear(in_features={in_features}, out_features={out_features}, rank={Rank}, alpha={Options.Alpha}, scaling={Options.Scaling}" +
        (AdapterNames.Count > 1 ? $", adapters=[{string.Join(", ", AdapterNames)}], active={ActiveAdapter})" : ")");
}
