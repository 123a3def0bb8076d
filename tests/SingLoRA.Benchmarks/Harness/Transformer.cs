using System;
using System.Collections.Generic;
using System.Linq;
using SingLoRA;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace SingLoRA.Benchmarks.Harness;

/// <summary>How the quickstart-size transformer is fine-tuned.</summary>
public enum FineTune
{
    /// <summary>Generated <c>[SingLoRA(Rank = 8, Targets = "q,k,v")]</c> attention; only the adapters train.</summary>
    SingLoRA,
    /// <summary><see cref="LoRALinear"/> rank 8 on q, k and v, wired by hand; only the adapters train.</summary>
    LoRA,
    /// <summary>Every parameter trains.</summary>
    FullFineTune,
}

/// <summary>
/// The size of the quickstart's transformer (samples/Quickstart, samples/Shared/TinyTransformer.cs defaults): 2 blocks,
/// width 64, 4 heads, MLP hidden 128, 32-token sequences of a 32-symbol vocabulary, batch 64, rank 8 on q, k and v;
/// next-token cross-entropy. The attention here is not causal (same cost to within the mask).
/// </summary>
public sealed record TransformerConfig(int Vocab = 32, int Dim = 64, int Heads = 4, int Layers = 2, int Seq = 32, int Batch = 64, int Rank = 8, int Hidden = 128)
{
    /// <summary>The default, quickstart-size configuration.</summary>
    public static TransformerConfig Quickstart { get; } = new();

    /// <summary>A tiny one for the test suite.</summary>
    public static TransformerConfig Tiny { get; } = new(Vocab: 16, Dim: 32, Heads: 2, Layers: 1, Seq: 8, Batch: 4, Hidden: 64);
}

internal static class AttentionMath
{
    /// <summary>Multi-head scaled dot-product attention over <c>[B, T, d]</c> projections, then the output projection.</summary>
    public static Tensor Combine(Tensor q, Tensor k, Tensor v, Module<Tensor, Tensor> o, int heads)
    {
        long b = q.shape[0], t = q.shape[1], d = q.shape[2], hd = d / heads;
        Tensor Split(Tensor z) => z.view(b, t, heads, hd).transpose(1, 2);
        var scores = Split(q).matmul(Split(k).transpose(-2, -1)).div_(Math.Sqrt(hd)).softmax(-1);
        var mixed = scores.matmul(Split(v)).transpose(1, 2).reshape(b, t, d);
        return o.forward(mixed);
    }
}

/// <summary>The SingLoRA attention: <c>Linear</c> targets, wiring generated from the attribute.</summary>
[SingLoRA(Rank = 8, Targets = "q,k,v")]
public sealed partial class SingLoRASelfAttention : Module<Tensor, Tensor>
{
    private readonly Linear q, k, v, o;
    private readonly int heads;

    /// <summary>Width <paramref name="d"/>, <paramref name="heads"/> heads.</summary>
    public SingLoRASelfAttention(int d, int heads) : base(nameof(SingLoRASelfAttention))
    {
        this.heads = heads;
        q = Linear(d, d);
        k = Linear(d, d);
        v = Linear(d, d);
        o = Linear(d, d);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => AttentionMath.Combine(q.forward(x), k.forward(x), v.forward(x), o, heads);
}

/// <summary>The plain attention; <c>q</c>, <c>k</c> and <c>v</c> optionally wrapped by hand (LoRA).</summary>
public sealed class PlainSelfAttention : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> q, k, v, o;
    private readonly int heads;

    /// <summary>Width <paramref name="d"/>; <paramref name="wrap"/> wraps q, k and v (identity for full fine-tuning).</summary>
    public PlainSelfAttention(int d, int heads, Func<Linear, Module<Tensor, Tensor>> wrap) : base(nameof(PlainSelfAttention))
    {
        this.heads = heads;
        q = wrap(Linear(d, d));
        k = wrap(Linear(d, d));
        v = wrap(Linear(d, d));
        o = Linear(d, d);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => AttentionMath.Combine(q.forward(x), k.forward(x), v.forward(x), o, heads);
}

/// <summary>One pre-norm encoder block.</summary>
public sealed class Block : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> attn;
    private readonly LayerNorm ln1, ln2;
    private readonly Linear fc1, fc2;

    /// <summary>A block around <paramref name="attention"/>.</summary>
    public Block(int d, int hidden, Module<Tensor, Tensor> attention) : base(nameof(Block))
    {
        attn = attention;
        ln1 = LayerNorm(d);
        ln2 = LayerNorm(d);
        fc1 = Linear(d, hidden);
        fc2 = Linear(hidden, d);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        x = x + attn.forward(ln1.forward(x));
        return x + fc2.forward(functional.gelu(fc1.forward(ln2.forward(x))));
    }
}

/// <summary>The quickstart-size transformer (token + position embeddings, blocks, final norm, vocabulary head).</summary>
public sealed class TinyTransformer : Module<Tensor, Tensor>
{
    private readonly Embedding tok;
    private readonly Parameter pos;
    private readonly ModuleList<Module<Tensor, Tensor>> blocks = new();
    private readonly LayerNorm ln;
    private readonly Linear head;

    /// <summary>Builds it with the adapters (or none) that <paramref name="fineTune"/> asks for.</summary>
    public TinyTransformer(TransformerConfig c, FineTune fineTune) : base(nameof(TinyTransformer))
    {
        tok = Embedding(c.Vocab, c.Dim);
        pos = new Parameter(randn(c.Seq, c.Dim) * 0.02);
        for (int i = 0; i < c.Layers; i++)
        {
            Module<Tensor, Tensor> attention = fineTune switch
            {
                FineTune.SingLoRA => new SingLoRASelfAttention(c.Dim, c.Heads),
                FineTune.LoRA => new PlainSelfAttention(c.Dim, c.Heads, l => new LoRALinear(l, new LoRAOptions(c.Rank))),
                _ => new PlainSelfAttention(c.Dim, c.Heads, l => l),
            };
            blocks.Add(new Block(c.Dim, c.Hidden, attention));
        }
        ln = LayerNorm(c.Dim);
        head = Linear(c.Dim, c.Vocab);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor tokens)
    {
        var x = tok.forward(tokens) + pos;
        foreach (var block in blocks) x = block.forward(x);
        return head.forward(ln.forward(x));
    }
}

/// <summary>The transformer with its data and AdamW: one call is one training step.</summary>
public sealed class TransformerStep : IDisposable
{
    private readonly Tensor _tokens, _targets;
    private readonly TransformerConfig _config;
    private readonly bool _adapters;

    /// <summary>Builds the model for <paramref name="fineTune"/>, freezes what does not train, and makes a fixed batch.</summary>
    public TransformerStep(FineTune fineTune, TransformerConfig? config = null, int seed = 0)
    {
        _config = config ?? TransformerConfig.Quickstart;
        FineTune = fineTune;
        manual_seed(seed);
        Model = new TinyTransformer(_config, fineTune);
        _adapters = fineTune != FineTune.FullFineTune;
        if (_adapters) Model.FreezeAllButAdapters();
        Trainable = Model.parameters().Where(p => p.requires_grad).ToList();
        Optimizer = optim.AdamW(Trainable, lr: LayerStep.LearningRate);
        manual_seed(seed + 11);
        var seq = randint(_config.Vocab, new long[] { _config.Batch, _config.Seq + 1 });
        _tokens = seq.narrow(1, 0, _config.Seq).clone();
        _targets = seq.narrow(1, 1, _config.Seq).clone();
        seq.Dispose();
    }

    /// <summary>How it is fine-tuned.</summary>
    public FineTune FineTune { get; }

    /// <summary>The model.</summary>
    public TinyTransformer Model { get; }

    /// <summary>What the optimizer updates.</summary>
    public IReadOnlyList<Parameter> Trainable { get; }

    /// <summary>AdamW over <see cref="Trainable"/>.</summary>
    public optim.Optimizer Optimizer { get; }

    /// <summary>Forward, cross-entropy, backward, AdamW, ramp advance, in a dispose scope.</summary>
    public void Step()
    {
        using var scope = NewDisposeScope();
        StepCore();
    }

    /// <summary>Like <see cref="Step"/>, returning the loss value (a host read: for checks only).</summary>
    public float StepAndLoss()
    {
        using var scope = NewDisposeScope();
        return StepCore().item<float>();
    }

    private Tensor StepCore()
    {
        var logits = Model.forward(_tokens);
        var loss = nn.functional.cross_entropy(logits.view(-1, _config.Vocab), _targets.view(-1));
        Optimizer.zero_grad();
        loss.backward();
        Optimizer.step();
        if (FineTune == FineTune.SingLoRA) Model.AdvanceRamp();
        return loss;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Optimizer.Dispose();
        Model.Dispose();
        _tokens.Dispose();
        _targets.Dispose();
    }
}
