using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace SingLoRA.TestModels;

/// <summary>
/// A small transformer-like classifier written the way TorchSharp ports are: a <c>Sequential</c> stem, blocks
/// in a <c>ModuleList</c> iterated by <see cref="forward"/>, heads in a <c>ModuleDict</c> looked up
/// by key. Runtime injection can reach every Linear here except the blocks' <c>o_proj</c> (a <c>Linear</c> field).
/// </summary>
public sealed class ForeignNet : Module<Tensor, Tensor>
{
    private readonly Sequential embed;
    private readonly ModuleList<ForeignBlock> blocks;
    private readonly ModuleDict<Module<Tensor, Tensor>> heads;

    public ForeignNet(int inputs = 6, int d = 8, int classes = 3, int depth = 2) : base(nameof(ForeignNet))
    {
        embed = Sequential(("0", Linear(inputs, d)), ("1", Tanh()));
        blocks = ModuleList(Enumerable.Range(0, depth).Select(_ => new ForeignBlock(d)).ToArray());
        heads = ModuleDict<Module<Tensor, Tensor>>(("cls", Linear(d, classes)), ("aux", Linear(d, 1)));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var h = embed.forward(x);
        foreach (var block in blocks) h = block.forward(h);
        return heads["cls"].forward(h.mean(new long[] { 1 }));
    }
}

/// <summary>
/// Attention-like mixing and an MLP. <c>q_proj</c> and <c>v_proj</c> are <c>Module&lt;Tensor, Tensor&gt;</c> fields,
/// the MLP a <c>ModuleList&lt;Module&lt;Tensor, Tensor&gt;&gt;</c> iterated here; <c>o_proj</c> is a <c>Linear</c>
/// field called by <c>o_proj.forward</c>, which nothing can redirect at run time.
/// </summary>
public sealed class ForeignBlock : Module<Tensor, Tensor>
{
    private readonly LayerNorm norm;
    private readonly Module<Tensor, Tensor> q_proj;
    private readonly Module<Tensor, Tensor> v_proj;
    private readonly Linear o_proj;
    private readonly ModuleList<Module<Tensor, Tensor>> mlp;

    public ForeignBlock(int d) : base(nameof(ForeignBlock))
    {
        norm = LayerNorm(d);
        q_proj = Linear(d, d);
        v_proj = Linear(d, d);
        o_proj = Linear(d, d);
        mlp = ModuleList<Module<Tensor, Tensor>>(Linear(d, 2 * d), GELU(), Linear(2 * d, d));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var h = norm.forward(x);
        var scores = q_proj.forward(h).matmul(h.transpose(1, 2)).div(System.Math.Sqrt(h.shape[^1]));
        x = x + o_proj.forward(scores.softmax(-1).matmul(v_proj.forward(h)));
        var y = x;
        foreach (var layer in mlp) y = layer.forward(y);
        return x + y;
    }
}

/// <summary>
/// The ways a model can hold a Linear that runtime injection must refuse, next to one it can reach: a
/// <c>ModuleList&lt;Linear&gt;</c>, a <c>Linear</c> field that is also a <c>Sequential</c> item, a Linear registered by
/// name but called from a <c>List&lt;Linear&gt;</c>, a Linear registered twice (a Sequential item that is also a
/// <c>Module&lt;Tensor, Tensor&gt;</c> field), and a plain Sequential item (reachable).
/// </summary>
public sealed class OddHolders : Module<Tensor, Tensor>
{
    private readonly ModuleList<Linear> taps;
    private readonly Linear shared;
    private readonly Sequential path;
    private readonly Module<Tensor, Tensor> tail;
    private readonly List<Linear> hidden = new();

    public OddHolders(int d = 4) : base(nameof(OddHolders))
    {
        taps = ModuleList(Linear(d, d), Linear(d, d));
        shared = Linear(d, d);
        var free = Linear(d, d);
        path = Sequential(("shared", shared), ("relu", ReLU()), ("free", free), ("out", Linear(d, d)));
        tail = free;
        RegisterComponents();
        hidden.Add(Linear(d, d));
        register_module("hidden0", hidden[0]);
    }

    public override Tensor forward(Tensor x)
    {
        var y = path.forward(x) + tail.forward(x) + shared.forward(x) + hidden[0].forward(x);
        foreach (var tap in taps) y = y + tap.forward(x);
        return y;
    }
}
