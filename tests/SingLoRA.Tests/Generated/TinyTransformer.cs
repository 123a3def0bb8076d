using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace SingLoRA.Tests.Generated;

// A small transformer written the way TorchSharp models usually are, with [SingLoRA] on the blocks' layers.
// Each annotated class has a twin without the attribute (the "pretrained" model whose checkpoint the adapted one loads).

/// <summary>Attention with <c>Linear</c> fields called through <c>.forward</c>: the generator intercepts the q and k calls.</summary>
[SingLoRA(Rank = 2, Targets = "q,k", RampLength = 4)]
public partial class LinearAttention : Module<Tensor, Tensor>
{
    private readonly Linear q, k, v, o;
    private readonly double scale;

    public LinearAttention(long d) : base(nameof(LinearAttention))
    {
        q = Linear(d, d);
        k = Linear(d, d);
        v = Linear(d, d);
        o = Linear(d, d);
        scale = 1.0 / Math.Sqrt(d);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var scores = q.forward(x).matmul(this.k.forward(x).transpose(-2, -1)).mul(scale);
        return o.forward(scores.softmax(-1).matmul(v.forward(x)));
    }
}

/// <summary>Attention with readonly <c>Module&lt;Tensor, Tensor&gt;</c> fields called through <c>.call</c>: the generator swaps the q and k fields.</summary>
[SingLoRA(Rank = 2, Targets = "q,k", RampLength = 4)]
public partial class ModuleAttention : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> q, k, v, o;
    private readonly double scale;

    public ModuleAttention(long d) : base(nameof(ModuleAttention))
    {
        q = Linear(d, d);
        k = Linear(d, d);
        v = Linear(d, d);
        o = Linear(d, d);
        scale = 1.0 / Math.Sqrt(d);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var scores = q.call(x).matmul(k.call(x).transpose(-2, -1)).mul(scale);
        return o.call(scores.softmax(-1).matmul(v.call(x)));
    }
}

/// <summary>An MLP whose up-projection (d → 4d, non-square) is adapted.</summary>
[SingLoRA(Rank = 2, Targets = "up", RampLength = 4)]
public partial class Mlp : Module<Tensor, Tensor>
{
    private readonly Linear up, down;

    public Mlp(long d) : base(nameof(Mlp))
    {
        up = Linear(d, 4 * d);
        down = Linear(4 * d, d);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => down.forward(functional.gelu(up.forward(x)));
}

/// <summary>The twin of <see cref="LinearAttention"/> without <c>[SingLoRA]</c>.</summary>
public sealed class PlainLinearAttention : Module<Tensor, Tensor>
{
    private readonly Linear q, k, v, o;
    private readonly double scale;

    public PlainLinearAttention(long d) : base(nameof(PlainLinearAttention))
    {
        q = Linear(d, d);
        k = Linear(d, d);
        v = Linear(d, d);
        o = Linear(d, d);
        scale = 1.0 / Math.Sqrt(d);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var scores = q.forward(x).matmul(this.k.forward(x).transpose(-2, -1)).mul(scale);
        return o.forward(scores.softmax(-1).matmul(v.forward(x)));
    }
}

/// <summary>The twin of <see cref="ModuleAttention"/> without <c>[SingLoRA]</c>.</summary>
public sealed class PlainModuleAttention : Module<Tensor, Tensor>
{
    private readonly Module<Tensor, Tensor> q, k, v, o;
    private readonly double scale;

    public PlainModuleAttention(long d) : base(nameof(PlainModuleAttention))
    {
        q = Linear(d, d);
        k = Linear(d, d);
        v = Linear(d, d);
        o = Linear(d, d);
        scale = 1.0 / Math.Sqrt(d);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var scores = q.call(x).matmul(k.call(x).transpose(-2, -1)).mul(scale);
        return o.call(scores.softmax(-1).matmul(v.call(x)));
    }
}

/// <summary>The twin of <see cref="Mlp"/> without <c>[SingLoRA]</c>.</summary>
public sealed class PlainMlp : Module<Tensor, Tensor>
{
    private readonly Linear up, down;

    public PlainMlp(long d) : base(nameof(PlainMlp))
    {
        up = Linear(d, 4 * d);
        down = Linear(4 * d, d);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => down.forward(functional.gelu(up.forward(x)));
}

/// <summary>A pre-norm transformer block: attention and MLP, each with a residual.</summary>
public sealed class Block : Module<Tensor, Tensor>
{
    private readonly LayerNorm ln1, ln2;
    private readonly Module<Tensor, Tensor> attn, mlp;

    public Block(long d, Module<Tensor, Tensor> attention, Module<Tensor, Tensor> feedForward) : base(nameof(Block))
    {
        ln1 = LayerNorm(d);
        ln2 = LayerNorm(d);
        attn = attention;
        mlp = feedForward;
        RegisterComponents();
    }

    public Module<Tensor, Tensor> Attention => attn;

    public Module<Tensor, Tensor> FeedForward => mlp;

    public override Tensor forward(Tensor x)
    {
        x = x + attn.call(ln1.call(x));
        return x + mlp.call(ln2.call(x));
    }
}

/// <summary>Embedding, blocks in a <c>ModuleList</c> (alternating the two attention styles), a head.</summary>
public sealed class TinyTransformer : Module<Tensor, Tensor>
{
    public const long Vocab = 8, Width = 8, Depth = 2;

    private readonly Embedding embed;
    private readonly ModuleList<Block> blocks;
    private readonly Linear head;

    /// <param name="adapted">True: the annotated classes (adapters); false: their plain twins (the pretrained model).</param>
    public TinyTransformer(bool adapted) : base(nameof(TinyTransformer))
    {
        embed = Embedding(Vocab, Width);
        blocks = new ModuleList<Block>();
        for (int i = 0; i < Depth; i++)
        {
            Module<Tensor, Tensor> attention = (adapted, i % 2) switch
            {
                (true, 0) => new LinearAttention(Width),
                (true, _) => new ModuleAttention(Width),
                (false, 0) => new PlainLinearAttention(Width),
                (false, _) => new PlainModuleAttention(Width),
            };
            Module<Tensor, Tensor> mlp = adapted ? new Mlp(Width) : new PlainMlp(Width);
            blocks.Add(new Block(Width, attention, mlp));
        }
        head = Linear(Width, Vocab);
        RegisterComponents();
    }

    public IReadOnlyList<Block> Blocks => blocks.ToList();

    /// <summary>Tokens <c>[B, T]</c> (int64) → logits <c>[B, T, Vocab]</c>.</summary>
    public override Tensor forward(Tensor tokens)
    {
        var x = embed.call(tokens);
        foreach (var block in blocks) x = block.call(x);
        return head.forward(x);
    }

    /// <summary>Every annotated module of the model, found through the runtime interface.</summary>
    public IReadOnlyList<ISingLoRAModule> AnnotatedModules =>
        modules().OfType<ISingLoRAModule>().ToList();
}
