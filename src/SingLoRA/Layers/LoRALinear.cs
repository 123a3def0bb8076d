using System;
using System.Collections.Generic;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA;

/// <summary>
/// The LoRA baseline on a frozen <see cref="Linear"/>: <c>y = x W0ᵀ + b + s · (dropout(x) Aᵀ) Bᵀ</c>, with <c>A</c>
/// <c>[r, d_in]</c> Kaiming-uniform (<c>a = sqrt(5)</c>) and <c>B</c> <c>[d_out, r]</c> zeros, under the same merge rules
/// as <see cref="SingLoRALinear"/>. State-dict keys: <c>weight</c>, <c>bias</c>, <c>lora_A</c>, <c>lora_B</c>.
/// </summary>
public sealed class LoRALinear : AdaptedLinear
{
    /// <summary>The state-dict name of <see cref="A"/>.</summary>
    public const string AKey = "lora_A";

    /// <summary>The state-dict name of <see cref="B"/>.</summary>
    public const string BKey = "lora_B";

    private Parameter _a;
    private Parameter _b;

    /// <summary>Wraps a pretrained layer. <paramref name="options"/> are validated; the layer's weight and bias are frozen.</summary>
    public LoRALinear(Linear baseLayer, LoRAOptions options)
        : base(nameof(LoRALinear), baseLayer, (options ?? throw new ArgumentNullException(nameof(options))).Validate())
    {
        Options = options;
        var w = baseLayer.weight;
        using (no_grad())
        {
            _a = new Parameter(empty(new[] { (long)options.Rank, in_features }, dtype: AdapterDType, device: w.device), requires_grad: true);
            nn.init.kaiming_uniform_(_a, a: Math.Sqrt(5));
            _b = new Parameter(zeros(new[] { out_features, (long)options.Rank }, dtype: AdapterDType, device: w.device), requires_grad: true);
        }
        register_parameter(AKey, _a);
        register_parameter(BKey, _b);
    }

    /// <summary>The options this adapter was built with.</summary>
    public override LoRAOptions Options { get; }

    /// <inheritdoc />
    public override string Kind => "lora";

    /// <summary>The down projection <c>A</c>, shape <c>[r, d_in]</c>.</summary>
    public Parameter A => _a;

    /// <summary>The up projection <c>B</c>, shape <c>[d_out, r]</c>, zero-initialised.</summary>
    public Parameter B => _b;

    /// <inheritdoc />
    public override IReadOnlyList<Parameter> AdapterParameters => new[] { _a, _b };

    /// <inheritdoc />
    public override double CurrentScale => Options.Scale;

    /// <inheritdoc />
    protected override Tensor WithAdapterOutput(Tensor output, Tensor x) =>
        output.addmm(x.mm(InComputeType(_a, x.dtype).t()).mul_(Options.Scale), InComputeType(_b, x.dtype).t());

    /// <inheritdoc />
    protected override Tensor UnscaledUpdate(IReadOnlyList<Tensor> adapterTensors, ScalarType computeType) =>
        adapterTensors[1].to_type(computeType).matmul(adapterTensors[0].to_type(computeType));

    /// <inheritdoc />
    protected override void OnAdapterTensorReplaced(string name, Tensor replacement)
    {
        switch (name)
        {
            case AKey: _a = (Parameter)replacement; break;
            case BKey: _b = (Parameter)replacement; break;
            default: throw new InvalidOperationException($"LoRALinear has no parameter named '{name}'.");
        }
    }

    /// <inheritdoc />
    internal override IReadOnlyList<(string Key, Tensor Tensor)> FileTensors(string adapterName)
    {
        RequireAdapter(adapterName);
        return new (string, Tensor)[] { (AKey, _a), (BKey, _b) };
    }

    /// <inheritdoc />
    public override string ToString() =>
        $"LoRALinear(in_features={in_features}, out_features={out_features}, rank={Rank}, alpha={Options.Alpha}, scaling={Options.Scaling})";
}
