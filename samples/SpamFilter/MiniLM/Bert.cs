using System;
using System.Collections.Generic;
using System.Linq;
using SingLoRA;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace SpamFilter.MiniLM;

// A BERT encoder written the way TorchSharp users write models, with Hugging Face's module names so that an HF
// checkpoint's keys (embeddings.word_embeddings.weight, encoder.layer.0.attention.self.query.weight, ...) are its
// state-dict keys. Sizes default to all-MiniLM-L6-v2. The only SingLoRA-specific code is the attribute on
// SingLoRABertSelfAttention, which the model takes instead of the plain BertSelfAttention.

/// <summary>The sizes of a BERT encoder; the defaults are all-MiniLM-L6-v2's (Hugging Face config names in the comments).</summary>
public sealed record BertConfig(
    int VocabSize = 30522,              // vocab_size
    int HiddenSize = 384,               // hidden_size
    int Layers = 6,                     // num_hidden_layers
    int Heads = 12,                     // num_attention_heads
    int IntermediateSize = 1536,        // intermediate_size
    int MaxPositions = 512,             // max_position_embeddings
    int TypeVocabSize = 2,              // type_vocab_size
    double LayerNormEps = 1e-12,        // layer_norm_eps
    double Dropout = 0.1)               // hidden_dropout_prob = attention_probs_dropout_prob
{
    /// <summary>all-MiniLM-L6-v2.</summary>
    public static BertConfig MiniLML6 { get; } = new();

    /// <summary>The command-line rule for <c>--max-tokens</c>: [CLS], at least one word piece and [SEP], and no more than the position table holds.</summary>
    /// <exception cref="ArgumentException">It is outside 3 to <see cref="MaxPositions"/>.</exception>
    public void CheckMaxTokens(int maxTokens, string option = "--max-tokens")
    {
        if (maxTokens < 3 || maxTokens > MaxPositions)
            throw new ArgumentException($"{option} must be between 3 and {MaxPositions} (BERT's position table), not {maxTokens}.");
    }
}

/// <summary>Word + position + token-type embeddings, then LayerNorm and dropout.</summary>
public sealed class BertEmbeddings : Module<Tensor, Tensor>
{
    private readonly Embedding word_embeddings, position_embeddings, token_type_embeddings;
    [ComponentName(Name = "LayerNorm")] private readonly LayerNorm layer_norm;
    private readonly Dropout dropout;

    public BertEmbeddings(BertConfig c) : base(nameof(BertEmbeddings))
    {
        word_embeddings = Embedding(c.VocabSize, c.HiddenSize);
        position_embeddings = Embedding(c.MaxPositions, c.HiddenSize);
        token_type_embeddings = Embedding(c.TypeVocabSize, c.HiddenSize);
        layer_norm = LayerNorm(c.HiddenSize, eps: c.LayerNormEps);
        dropout = Dropout(c.Dropout);
        RegisterComponents();
    }

    /// <summary>Token ids <c>[B, L]</c> (int64) to embeddings <c>[B, L, H]</c>; one segment (token type 0), positions 0..L-1.</summary>
    public override Tensor forward(Tensor inputIds)
    {
        using var scope = NewDisposeScope();
        long length = inputIds.shape[1];
        var positions = arange(length, dtype: ScalarType.Int64, device: inputIds.device).unsqueeze(0);
        var types = zeros_like(inputIds);
        var x = word_embeddings.forward(inputIds) + position_embeddings.forward(positions) + token_type_embeddings.forward(types);
        return dropout.forward(layer_norm.forward(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>Scaled dot-product attention over already projected queries, keys and values, as BERT computes it.</summary>
public static class BertAttentionOps
{
    /// <summary>
    /// <c>softmax(q kᵀ / sqrt(d_head) + mask) v</c> per head, with dropout on the attention probabilities. <paramref name="q"/>,
    /// <paramref name="k"/>, <paramref name="v"/> are <c>[B, L, H]</c>; <paramref name="additiveMask"/> is <c>[B, 1, 1, L]</c>
    /// (0 for tokens, -10000 for padding).
    /// </summary>
    public static Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor additiveMask, int heads, Dropout dropout)
    {
        using var scope = NewDisposeScope();
        long b = q.shape[0], l = q.shape[1], d = q.shape[2], dh = d / heads;
        Tensor Split(Tensor t) => t.view(b, l, heads, dh).transpose(1, 2);
        var scores = Split(q).matmul(Split(k).transpose(-2, -1)).div_(Math.Sqrt(dh)).add_(additiveMask);
        var context = dropout.forward(scores.softmax(-1)).matmul(Split(v));
        return context.transpose(1, 2).reshape(b, l, d).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// BERT's self-attention with SingLoRA on <c>query</c>, <c>key</c> and <c>value</c>: the attribute (and the layer index it
/// reads, which Hugging Face's <c>BertSelfAttention</c> also takes as <c>layer_idx</c>) is the only difference from
/// <see cref="BertSelfAttention"/>. The sample sets the rank, alpha and ramp length from its command line at run time
/// (<c>SingLoRAOverrides</c>; <c>--rank</c>, <c>--alpha</c>, <c>--ramp-steps</c>), and the adapted layers with
/// <c>--layers</c> (a <c>SingLoRAOverrides.Layers</c> scope, which reads <c>layer_idx</c>).
/// </summary>
[SingLoRA(Rank = 8, Targets = "query,key,value", Alpha = 8, RampLength = 20, LayerIndex = nameof(layer_idx))]
public sealed partial class SingLoRABertSelfAttention : Module<Tensor, Tensor, Tensor>
{
    private readonly int layer_idx;
    private readonly Linear query, key, value;
    private readonly Dropout dropout;
    private readonly int _heads;

    public SingLoRABertSelfAttention(BertConfig c, int layerIdx) : base(nameof(SingLoRABertSelfAttention))
    {
        layer_idx = layerIdx;
        _heads = c.Heads;
        query = Linear(c.HiddenSize, c.HiddenSize);
        key = Linear(c.HiddenSize, c.HiddenSize);
        value = Linear(c.HiddenSize, c.HiddenSize);
        dropout = Dropout(c.Dropout);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor additiveMask) =>
        BertAttentionOps.Attend(query.forward(hidden), key.forward(hidden), value.forward(hidden), additiveMask, _heads, dropout);
}

/// <summary>
/// BERT's self-attention (Hugging Face's <c>BertSelfAttention</c>): the projections <c>query</c>, <c>key</c>, <c>value</c>.
/// <see cref="Adapt"/> hand-wires other adapters on them (the LoRA baselines).
/// </summary>
public sealed class BertSelfAttention : Module<Tensor, Tensor, Tensor>
{
    private Module<Tensor, Tensor> query, key, value;
    private readonly Dropout dropout;
    private readonly int _heads;

    public BertSelfAttention(BertConfig c) : base(nameof(BertSelfAttention))
    {
        _heads = c.Heads;
        query = Linear(c.HiddenSize, c.HiddenSize);
        key = Linear(c.HiddenSize, c.HiddenSize);
        value = Linear(c.HiddenSize, c.HiddenSize);
        dropout = Dropout(c.Dropout);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor additiveMask) =>
        BertAttentionOps.Attend(query.forward(hidden), key.forward(hidden), value.forward(hidden), additiveMask, _heads, dropout);

    /// <summary>Replaces each named projection (<c>query</c>, <c>key</c> or <c>value</c>) with <paramref name="wrap"/>'s module, under the same name.</summary>
    public void Adapt(IEnumerable<string> targets, Func<Linear, Module<Tensor, Tensor>> wrap)
    {
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(wrap);
        foreach (var target in targets)
        {
            var current = target switch { "query" => query, "key" => key, "value" => value, _ => throw new ArgumentException($"Unknown self-attention projection '{target}'; use query, key or value.") };
            var adapted = wrap(current as Linear ?? throw new InvalidOperationException($"'{target}' is already adapted."));
            for (int i = 0; i < _internal_submodules.Count; i++)
                if (_internal_submodules[i].Item1 == target) _internal_submodules[i] = (target, adapted);
            switch (target) { case "query": query = adapted; break; case "key": key = adapted; break; default: value = adapted; break; }
        }
    }
}

/// <summary>The attention output projection with its residual connection and LayerNorm.</summary>
public sealed class BertSelfOutput : Module<Tensor, Tensor, Tensor>
{
    private readonly Linear dense;
    [ComponentName(Name = "LayerNorm")] private readonly LayerNorm layer_norm;
    private readonly Dropout dropout;

    public BertSelfOutput(BertConfig c) : base(nameof(BertSelfOutput))
    {
        dense = Linear(c.HiddenSize, c.HiddenSize);
        layer_norm = LayerNorm(c.HiddenSize, eps: c.LayerNormEps);
        dropout = Dropout(c.Dropout);
        RegisterComponents();
    }

    /// <summary><c>LayerNorm(dropout(dense(h)) + residual)</c>.</summary>
    public override Tensor forward(Tensor hidden, Tensor residual)
    {
        using var scope = NewDisposeScope();
        return layer_norm.forward(dropout.forward(dense.forward(hidden)) + residual).MoveToOuterDisposeScope();
    }
}

/// <summary><c>attention.self</c> and <c>attention.output</c>.</summary>
public sealed class BertAttention : Module<Tensor, Tensor, Tensor>
{
    [ComponentName(Name = "self")] private readonly Module<Tensor, Tensor, Tensor> self_attention;
    private readonly BertSelfOutput output;

    public BertAttention(BertConfig c, Module<Tensor, Tensor, Tensor> selfAttention) : base(nameof(BertAttention))
    {
        self_attention = selfAttention;
        output = new BertSelfOutput(c);
        RegisterComponents();
    }

    /// <summary>The self-attention module (<c>attention.self</c>).</summary>
    public Module<Tensor, Tensor, Tensor> Self => self_attention;

    public override Tensor forward(Tensor hidden, Tensor additiveMask)
    {
        using var scope = NewDisposeScope();
        return output.forward(self_attention.forward(hidden, additiveMask), hidden).MoveToOuterDisposeScope();
    }
}

/// <summary>The feed-forward block's first half: <c>gelu(dense(h))</c> (exact, erf-based GELU).</summary>
public sealed class BertIntermediate : Module<Tensor, Tensor>
{
    private readonly Linear dense;

    public BertIntermediate(BertConfig c) : base(nameof(BertIntermediate))
    {
        dense = Linear(c.HiddenSize, c.IntermediateSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden) => functional.gelu(dense.forward(hidden));
}

/// <summary>The feed-forward block's second half with its residual connection and LayerNorm.</summary>
public sealed class BertOutput : Module<Tensor, Tensor, Tensor>
{
    private readonly Linear dense;
    [ComponentName(Name = "LayerNorm")] private readonly LayerNorm layer_norm;
    private readonly Dropout dropout;

    public BertOutput(BertConfig c) : base(nameof(BertOutput))
    {
        dense = Linear(c.IntermediateSize, c.HiddenSize);
        layer_norm = LayerNorm(c.HiddenSize, eps: c.LayerNormEps);
        dropout = Dropout(c.Dropout);
        RegisterComponents();
    }

    public override Tensor forward(Tensor hidden, Tensor residual)
    {
        using var scope = NewDisposeScope();
        return layer_norm.forward(dropout.forward(dense.forward(hidden)) + residual).MoveToOuterDisposeScope();
    }
}

/// <summary>One transformer layer: attention, then the feed-forward block.</summary>
public sealed class BertLayer : Module<Tensor, Tensor, Tensor>
{
    private readonly BertAttention attention;
    private readonly BertIntermediate intermediate;
    private readonly BertOutput output;

    public BertLayer(BertConfig c, Module<Tensor, Tensor, Tensor> selfAttention) : base(nameof(BertLayer))
    {
        attention = new BertAttention(c, selfAttention);
        intermediate = new BertIntermediate(c);
        output = new BertOutput(c);
        RegisterComponents();
    }

    /// <summary>The attention block.</summary>
    public BertAttention Attention => attention;

    public override Tensor forward(Tensor hidden, Tensor additiveMask)
    {
        using var scope = NewDisposeScope();
        var attended = attention.forward(hidden, additiveMask);
        return output.forward(intermediate.forward(attended), attended).MoveToOuterDisposeScope();
    }
}

/// <summary><c>encoder.layer.N</c>.</summary>
public sealed class BertEncoder : Module<Tensor, Tensor, Tensor>
{
    private readonly ModuleList<BertLayer> layer;

    public BertEncoder(BertConfig c, Func<BertConfig, int, Module<Tensor, Tensor, Tensor>> selfAttention) : base(nameof(BertEncoder))
    {
        layer = new ModuleList<BertLayer>(Enumerable.Range(0, c.Layers).Select(i => new BertLayer(c, selfAttention(c, i))).ToArray());
        RegisterComponents();
    }

    /// <summary>The layers.</summary>
    public ModuleList<BertLayer> Layers => layer;

    public override Tensor forward(Tensor hidden, Tensor additiveMask)
    {
        using var scope = NewDisposeScope();
        foreach (var l in layer) hidden = l.forward(hidden, additiveMask);
        return hidden.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// The BERT encoder (Hugging Face's <c>BertModel</c> without the pooler, which sentence-transformers models do not use):
/// <c>(input_ids [B, L], attention_mask [B, L])</c> to the last hidden state <c>[B, L, H]</c>. The self-attention class is a
/// parameter: <see cref="BertSelfAttention"/> (plain, the default) or <see cref="SingLoRABertSelfAttention"/>.
/// </summary>
public sealed class BertModel : Module<Tensor, Tensor, Tensor>
{
    private readonly BertEmbeddings embeddings;
    private readonly BertEncoder encoder;

    /// <param name="config">The sizes.</param>
    /// <param name="selfAttention">Builds layer <c>i</c>'s self-attention (<see cref="BertSelfAttention"/> when null).</param>
    public BertModel(BertConfig config, Func<BertConfig, int, Module<Tensor, Tensor, Tensor>>? selfAttention = null) : base(nameof(BertModel))
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.HiddenSize % config.Heads != 0) throw new ArgumentException($"The hidden size {config.HiddenSize} is not a multiple of the {config.Heads} heads.", nameof(config));
        Config = config;
        embeddings = new BertEmbeddings(config);
        encoder = new BertEncoder(config, selfAttention ?? ((c, _) => new BertSelfAttention(c)));
        RegisterComponents();
    }

    /// <summary>The sizes.</summary>
    public BertConfig Config { get; }

    /// <summary>The transformer layers.</summary>
    public ModuleList<BertLayer> Layers => encoder.Layers;

    /// <summary>Token ids and the 0/1 attention mask (both <c>[B, L]</c>, int64) to token embeddings <c>[B, L, H]</c>.</summary>
    public override Tensor forward(Tensor inputIds, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        // BERT's extended mask: 0 where attended, -10000 at padding, broadcast over heads and query positions.
        var additive = ones(1, dtype: ScalarType.Float32, device: attentionMask.device).sub(attentionMask.to_type(ScalarType.Float32)).mul_(-10000.0).unsqueeze(1).unsqueeze(1);
        return encoder.forward(embeddings.forward(inputIds), additive).MoveToOuterDisposeScope();
    }

    /// <summary>Mean of the token embeddings over the attended positions (sentence-transformers' mean pooling): <c>[B, L, H]</c>, <c>[B, L]</c> to <c>[B, H]</c>.</summary>
    public static Tensor MeanPool(Tensor tokenEmbeddings, Tensor attentionMask)
    {
        using var scope = NewDisposeScope();
        var mask = attentionMask.to_type(tokenEmbeddings.dtype).unsqueeze(-1);
        var summed = (tokenEmbeddings * mask).sum(1);
        return summed.div(mask.sum(1).clamp_min(1e-9)).MoveToOuterDisposeScope();
    }
}
