using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace SingLoRA.Samples;

/// <summary>The sizes of <see cref="TinyTransformer"/>.</summary>
public sealed record TransformerConfig(int Vocab = 32, int Length = 32, int DModel = 64, int Heads = 4, int Layers = 2, int Hidden = 128);

/// <summary>Causal multi-head attention on already projected queries, keys and values.</summary>
public static class AttentionOps
{
    /// <summary><c>softmax(q kᵀ / sqrt(d_head) + causal mask) v</c> per head; inputs and output are <c>[B, L, D]</c>.</summary>
    public static Tensor Causal(Tensor q, Tensor k, Tensor v, int heads)
    {
        using var scope = NewDisposeScope();
        long b = q.shape[0], l = q.shape[1], d = q.shape[2], dh = d / heads;
        Tensor Split(Tensor t) => t.view(b, l, heads, dh).transpose(1, 2);
        var scores = Split(q).matmul(Split(k).transpose(-2, -1)).div_(Math.Sqrt(dh));
        var mask = ones(l, l, dtype: ScalarType.Bool, device: q.device).triu(1);
        scores = scores.masked_fill(mask, double.NegativeInfinity);
        var output = scores.softmax(-1).matmul(Split(v)).transpose(1, 2).reshape(b, l, d);
        return output.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Plain causal self-attention with projections <c>q, k, v, o</c> (state-dict keys <c>q.weight</c>, ...). The apps'
/// <c>[SingLoRA]</c> attention classes declare the same fields, so a checkpoint of this module loads into them.
/// <see cref="Adapt"/> hand-wires adapters (the LoRA baselines, or SingLoRA with options chosen at run time).
/// </summary>
public sealed class Attention : Module<Tensor, Tensor>
{
    private Module<Tensor, Tensor> q, k, v, o;
    private readonly int _heads;

    /// <summary>Creates the four <c>D × D</c> projections.</summary>
    public Attention(TransformerConfig config) : base(nameof(Attention))
    {
        _heads = config.Heads;
        q = Linear(config.DModel, config.DModel);
        k = Linear(config.DModel, config.DModel);
        v = Linear(config.DModel, config.DModel);
        o = Linear(config.DModel, config.DModel);
        RegisterComponents();
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor x) => o.forward(AttentionOps.Causal(q.forward(x), k.forward(x), v.forward(x), _heads));

    /// <summary>Replaces each named projection (<c>q</c>, <c>k</c>, <c>v</c> or <c>o</c>) with <paramref name="wrap"/>'s module, under the same name.</summary>
    public void Adapt(IEnumerable<string> targets, Func<Linear, Module<Tensor, Tensor>> wrap)
    {
        ArgumentNullException.ThrowIfNull(wrap);
        foreach (var target in targets)
        {
            var current = target switch { "q" => q, "k" => k, "v" => v, "o" => o, _ => throw new ArgumentException($"Unknown attention target '{target}'; use q, k, v or o.") };
            var linear = current as Linear ?? throw new InvalidOperationException($"'{target}' is already adapted.");
            var adapted = wrap(linear);
            for (int i = 0; i < _internal_submodules.Count; i++)
                if (_internal_submodules[i].Item1 == target) _internal_submodules[i] = (target, adapted);
            switch (target) { case "q": q = adapted; break; case "k": k = adapted; break; case "v": v = adapted; break; default: o = adapted; break; }
        }
    }
}

/// <summary>A pre-norm transformer block: <c>x + attn(ln1(x))</c>, then <c>x + mlp(ln2(x))</c>.</summary>
public sealed class Block : Module<Tensor, Tensor>
{
    private readonly LayerNorm ln1, ln2;
    private readonly Module<Tensor, Tensor> attn;
    private readonly Linear fc1, fc2;

    /// <summary>Creates a block around the given attention module.</summary>
    public Block(TransformerConfig config, Module<Tensor, Tensor> attention) : base(nameof(Block))
    {
        ln1 = LayerNorm(config.DModel);
        ln2 = LayerNorm(config.DModel);
        attn = attention;
        fc1 = Linear(config.DModel, config.Hidden);
        fc2 = Linear(config.Hidden, config.DModel);
        RegisterComponents();
    }

    /// <summary>The attention module.</summary>
    public Module<Tensor, Tensor> Attention => attn;

    /// <inheritdoc />
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = x + attn.forward(ln1.forward(x));
        x = x + fc2.forward(functional.gelu(fc1.forward(ln2.forward(x))));
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// A small decoder-only transformer: token embedding plus fixed sinusoidal positions, <see cref="TransformerConfig.Layers"/>
/// blocks whose attention module comes from a factory (plain <see cref="Attention"/> for pre-training, an app's
/// <c>[SingLoRA]</c> class for fine-tuning), a final layer norm and a linear head over the vocabulary.
/// </summary>
public sealed class TinyTransformer : Module<Tensor, Tensor>
{
    private readonly Embedding tok;
    private readonly Tensor pos;
    private readonly ModuleList<Block> blocks;
    private readonly LayerNorm lnf;
    private readonly Linear head;

    /// <summary>Creates the model; <paramref name="attention"/> builds one attention module per block.</summary>
    public TinyTransformer(TransformerConfig config, Func<TransformerConfig, Module<Tensor, Tensor>> attention) : base(nameof(TinyTransformer))
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(attention);
        Config = config;
        tok = Embedding(config.Vocab, config.DModel);
        pos = Sinusoidal(config.Length, config.DModel);
        blocks = new ModuleList<Block>(Enumerable.Range(0, config.Layers).Select(_ => new Block(config, attention(config))).ToArray());
        lnf = LayerNorm(config.DModel);
        head = Linear(config.DModel, config.Vocab);
        RegisterComponents();
    }

    /// <summary>The sizes.</summary>
    public TransformerConfig Config { get; }

    /// <summary>The attention modules, one per block.</summary>
    public IEnumerable<Module<Tensor, Tensor>> AttentionModules => blocks.Select(b => b.Attention);

    /// <summary>Tokens <c>[B, L]</c> (int64) to logits <c>[B, L, V]</c>.</summary>
    public override Tensor forward(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        var x = tok.forward(tokens) + pos.narrow(0, 0, tokens.shape[1]);
        foreach (var block in blocks) x = block.forward(x);
        return head.forward(lnf.forward(x)).MoveToOuterDisposeScope();
    }

    /// <summary>A plain model (no adapters), for pre-training.</summary>
    public static TinyTransformer Plain(TransformerConfig config) => new(config, c => new Attention(c));

    private static Tensor Sinusoidal(int length, int d)
    {
        using var _ = no_grad();
        var position = arange(length, dtype: ScalarType.Float32).unsqueeze(1);
        var div = exp(arange(0, d, 2, dtype: ScalarType.Float32).mul(-Math.Log(10000.0) / d));
        var pe = zeros(length, d);
        pe.index_copy_(1, arange(0, d, 2), sin(position * div));
        pe.index_copy_(1, arange(1, d, 2), cos(position * div));
        return pe;
    }
}
