using System;
using System.Collections.Generic;
using System.Linq;
using SingLoRA;
using SingLoRA.Pretrained;
using SpamFilter.MiniLM;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace SpamFilter;

/// <summary>The fine-tuning methods compared.</summary>
public enum Method
{
    /// <summary>SingLoRA on query, key, value of every layer (<see cref="SingLoRABertSelfAttention"/>), plus the head.</summary>
    SingLoRA,
    /// <summary>LoRA at half SingLoRA's rank on the same layers: the same number of trainable values (square layers).</summary>
    LoRAHalfRank,
    /// <summary>LoRA at SingLoRA's rank: twice its trainable values (the paper's comparison).</summary>
    LoRA,
    /// <summary>Only the linear head; the encoder is frozen.</summary>
    HeadOnly,
    /// <summary>Every weight, the ceiling.</summary>
    Full,
}

/// <summary>Mean-pooled MiniLM and a linear head: <c>(input_ids, attention_mask)</c> to logits <c>[B, classes]</c> (spam / ham: 2).</summary>
public sealed class SpamClassifier : Module<Tensor, Tensor, Tensor>
{
    private readonly BertModel encoder;
    private readonly Linear classifier;

    public SpamClassifier(BertModel encoder, int classes = 2) : base(nameof(SpamClassifier))
    {
        this.encoder = encoder ?? throw new ArgumentNullException(nameof(encoder));
        ArgumentOutOfRangeException.ThrowIfLessThan(classes, 2);
        classifier = Linear(encoder.Config.HiddenSize, classes);
        RegisterComponents();
    }

    /// <summary>The pretrained encoder.</summary>
    public BertModel Encoder => encoder;

    /// <summary>The new head.</summary>
    public Linear Classifier => classifier;

    public override Tensor forward(Tensor ids, Tensor mask)
    {
        using var scope = NewDisposeScope();
        return classifier.forward(BertModel.MeanPool(encoder.forward(ids, mask), mask)).MoveToOuterDisposeScope();
    }
}

/// <summary>The adapter settings of one comparison (SingLoRA's rank; LoRA uses it and its half).</summary>
/// <param name="Layers">The encoder layers that get adapters, for every adapter method (PEFT's <c>layers_to_transform</c>); empty: all.</param>
public sealed record AdapterSettings(int Rank, double Alpha, long RampLength, double LoRAAlpha, IReadOnlyList<int> Layers)
{
    /// <summary>Whether encoder layer <paramref name="index"/> gets adapters.</summary>
    public bool Adapts(int index) => Layers.Count == 0 || Layers.Contains(index);

    /// <summary>The adapted layers in words: "all 6 layers", "layers 4, 5".</summary>
    public string LayersText => Layers.Count == 0 ? $"all {BertConfig.MiniLML6.Layers} layers" : $"layer{(Layers.Count > 1 ? "s" : "")} {string.Join(", ", Layers)}";

    /// <summary>
    /// How the encoder loads the converted checkpoint: a Hugging Face <c>BertModel</c> checkpoint also holds the pooler
    /// (unused by sentence-transformers) and, in older exports, the <c>position_ids</c> buffer; exactly those are left
    /// out, on purpose, and anything else that does not match is an error.
    /// </summary>
    public static PretrainedLoadOptions LoadOptions { get; } = new()
    {
        MapKey = k => k.StartsWith("pooler.", StringComparison.Ordinal) || k == "embeddings.position_ids" ? null : k,
    };

    /// <summary>
    /// Builds the classifier for <paramref name="method"/> with the pretrained weights loaded (through <see cref="PretrainedLoader.LoadPretrained(Module, string, PretrainedLoadOptions?)"/>),
    /// the right parameters trainable and the rest frozen. Returns it with its encoder-side and head parameters.
    /// </summary>
    public (SpamClassifier Model, IReadOnlyList<Parameter> Encoder, IReadOnlyList<Parameter> Head) Build(Method method, string checkpoint)
    {
        BertModel encoder;
        if (method == Method.SingLoRA)
        {
            // The attribute on SingLoRABertSelfAttention declares the adapters; the command line changes its options.
            // --layers: a Layers scope reads each attention's layer_idx (the attribute names it), like PEFT's layers_to_transform.
            using (SingLoRAOverrides.Scope(o => o with { Rank = Rank, Alpha = Alpha, RampLength = RampLength }))
            using (Layers.Count > 0 ? SingLoRAOverrides.Layers(Layers.ToArray()) : null)
                encoder = new BertModel(BertConfig.MiniLML6, (c, i) => new SingLoRABertSelfAttention(c, i));
        }
        else
        {
            encoder = new BertModel(BertConfig.MiniLML6);
        }
        encoder.LoadPretrained(checkpoint, LoadOptions);
        if (method is Method.LoRA or Method.LoRAHalfRank)
        {
            var options = new LoRAOptions(method == Method.LoRA ? Rank : Math.Max(1, Rank / 2), LoRAAlpha);
            for (int i = 0; i < encoder.Layers.Count; i++)
                if (Adapts(i))
                    ((BertSelfAttention)encoder.Layers[i].Attention.Self).Adapt(new[] { "query", "key", "value" }, l => new LoRALinear(l, options));
        }
        var model = new SpamClassifier(encoder);
        foreach (var p in model.parameters()) p.requires_grad = false;
        IReadOnlyList<Parameter> encoderParams = method switch
        {
            Method.SingLoRA or Method.LoRA or Method.LoRAHalfRank => model.AdapterParameters().ToList(),
            Method.Full => encoder.parameters().ToList(),
            _ => Array.Empty<Parameter>(),
        };
        var head = model.Classifier.parameters().ToList();
        foreach (var p in encoderParams.Concat(head)) p.requires_grad = true;
        return (model, encoderParams, head);
    }

    /// <summary>A readable name.</summary>
    public string Label(Method method) => method switch
    {
        Method.SingLoRA => $"SingLoRA r={Rank}",
        Method.LoRAHalfRank => $"LoRA r={Math.Max(1, Rank / 2)} (equal params)",
        Method.LoRA => $"LoRA r={Rank} (equal rank)",
        Method.HeadOnly => "head only",
        _ => "full fine-tuning",
    };
}
