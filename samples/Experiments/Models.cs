using System;
using SingLoRA;
using SingLoRA.Samples;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Experiments;

// ---- §5 synthetic attention: softmax(X W_q (X W_k)ᵀ / sqrt(d)), adapters on q and k only. ----

/// <summary>
/// §5 with SingLoRA on q and k, width-scaled init (the library default): <c>W_q0 + AAᵀ</c>, <c>W_k0 + BBᵀ</c>,
/// <c>s = alpha / r = 1</c>. The community-init runs build the same class inside a scope that changes <c>Init</c>.
/// </summary>
[SingLoRA(Rank = 8, Targets = "q,k", Alpha = 8, RampLength = 50)]
public sealed partial class SingLoRAScores : Module<Tensor, Tensor>
{
    private readonly Linear q, k;

    public SingLoRAScores(int d) : base(nameof(SingLoRAScores))
    {
        q = Linear(d, d, hasBias: false);
        k = Linear(d, d, hasBias: false);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Scores.Pattern(q.forward(x), k.forward(x));
}

/// <summary>§5's plain attention pattern; the LoRA baselines are hand-wired onto its <c>q</c> and <c>k</c>.</summary>
public sealed class Scores : Module<Tensor, Tensor>
{
    private Module<Tensor, Tensor> q, k;

    public Scores(int d, LoRAOptions lora) : base(nameof(Scores))
    {
        q = new LoRALinear(Linear(d, d, hasBias: false), lora);
        k = new LoRALinear(Linear(d, d, hasBias: false), lora);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Pattern(q.forward(x), k.forward(x));

    /// <summary><c>softmax(Q Kᵀ / sqrt(d))</c> for <c>Q, K</c> of shape <c>[N, d]</c>.</summary>
    public static Tensor Pattern(Tensor qx, Tensor kx) => qx.matmul(kx.t()).div(Math.Sqrt(qx.shape[^1])).softmax(-1);
}

// ---- §6.3 and A.1: the quickstart's fine-tuning task. ----

/// <summary>
/// The quickstart's <c>[SingLoRA]</c> attention (q, k, v; rank 8, alpha 16, ramp 30 = 10% of 300 steps). The
/// community-init runs build the same class inside a scope that changes <c>Init</c>.
/// </summary>
[SingLoRA(Rank = 8, Targets = "q,k,v", Alpha = 16, RampLength = 30)]
public sealed partial class SingLoRAAttention : Module<Tensor, Tensor>
{
    private readonly Linear q, k, v, o;
    private readonly int _heads;

    public SingLoRAAttention(TransformerConfig config) : base(nameof(SingLoRAAttention))
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

