using SingLoRA;
using SingLoRA.Samples;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Quickstart;

/// <summary>
/// The only SingLoRA-specific code of the quickstart: causal self-attention written as usual, plus one attribute.
/// When the constructor calls <c>RegisterComponents()</c>, the generator wraps <c>q</c>, <c>k</c> and <c>v</c> in
/// <see cref="SingLoRALinear"/> adapters (rank 8, <c>s = alpha / r = 2</c>, ramp over 30 optimizer steps: 10% of the
/// default 300 fine-tuning steps, the paper's setting). The forward code is unchanged and the state-dict keys of the
/// pretrained weights (<c>q.weight</c>, ...) stay the same, so a plain checkpoint loads into this module.
/// </summary>
[SingLoRA(Rank = 8, Targets = "q,k,v", Alpha = 16, RampLength = 30)]
public sealed partial class AdaptedAttention : Module<Tensor, Tensor>
{
    private readonly Linear q, k, v, o;
    private readonly int _heads;

    public AdaptedAttention(TransformerConfig config) : base(nameof(AdaptedAttention))
    {
        _heads = config.Heads;
        q = Linear(config.DModel, config.DModel);
        k = Linear(config.DModel, config.DModel);
        v = Linear(config.DModel, config.DModel);
        o = Linear(config.DModel, config.DModel);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => o.forward(AttentionOps.Causal(q.forward(x), k.forward(x), v.forward(x), _heads));
}
