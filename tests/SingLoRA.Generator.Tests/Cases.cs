using System.Collections.Generic;
using System.Linq;

namespace SingLoRA.Generator.Tests;

/// <summary>Representative user models: each one is snapshotted and compiled.</summary>
public static class Cases
{
    /// <summary>The usings a TorchSharp model file usually has.</summary>
    public const string Usings = """
        using System;
        using SingLoRA;
        using TorchSharp;
        using TorchSharp.Modules;
        using static TorchSharp.torch;
        using static TorchSharp.torch.nn;

        """;

    /// <summary><c>Linear</c> targets, one initialised inline and one in the constructor, called with <c>.forward</c> and <c>.call</c> (also in a lambda).</summary>
    public const string LinearTargets = Usings + """
        namespace Models;

        [SingLoRA(Rank = 8, Targets = "q,k", Alpha = 16, RampLength = 200)]
        public partial class SelfAttention : Module<Tensor, Tensor>
        {
            private readonly Linear q = Linear(16, 16);
            private readonly Linear k;
            private readonly Linear v = Linear(16, 16);

            public SelfAttention() : base(nameof(SelfAttention))
            {
                k = Linear(16, 16);
                RegisterComponents();
            }

            public override Tensor forward(Tensor x)
            {
                var scores = q.forward(x).matmul(this.k.forward(x).transpose(-2, -1));
                Func<Tensor, Tensor> keys = t => k.call(t);
                return scores.softmax(-1).matmul(v.forward(x)) + keys(x);
            }
        }
        """;

    /// <summary><c>Module&lt;Tensor, Tensor&gt;</c> targets, readonly and not, every attribute value set.</summary>
    public const string ModuleTargets = Usings + """
        namespace Models.Audio;

        [SingLoRA(Rank = 4, Targets = "q_proj, k_proj, wq", Alpha = 8, RampLength = 0, Dropout = 0.1,
                  Scaling = ScalingRule.AlphaOverSqrtRank, Init = AdapterInit.Gaussian)]
        internal partial class SelfAttention : Module<Tensor, Tensor>
        {
            private readonly Module<Tensor, Tensor> q_proj, k_proj, v_proj;
            private Module<Tensor, Tensor> wq = Linear(32, 32);

            public SelfAttention(int d) : base(nameof(SelfAttention))
            {
                q_proj = Linear(d, d);
                k_proj = Linear(d, d);
                v_proj = Linear(d, d);
                RegisterComponents();
            }

            public override Tensor forward(Tensor x) => q_proj.call(x) + k_proj.call(x) + v_proj.call(x) + wq.call(x);
        }
        """;

    /// <summary>An annotated private class nested in another partial class.</summary>
    public const string NestedClass = Usings + """
        namespace Models
        {
            public partial class Encoder : Module<Tensor, Tensor>
            {
                private readonly Attention attn = new(8);

                public Encoder() : base(nameof(Encoder)) => RegisterComponents();

                public override Tensor forward(Tensor x) => attn.call(x);

                [SingLoRA(Rank = 2, Targets = "wq,wk")]
                private sealed partial class Attention : Module<Tensor, Tensor>
                {
                    private Linear wq, wk;

                    public Attention(int d) : base(nameof(Attention))
                    {
                        wq = Linear(d, d, hasBias: false);
                        wk = Linear(d, d, hasBias: false);
                        RegisterComponents();
                    }

                    public override Tensor forward(Tensor x) => wq.forward(x) * wk.forward(x);
                }
            }
        }
        """;

    /// <summary>A generic annotated class with a constraint.</summary>
    public const string GenericClass = Usings + """
        namespace Models;

        [SingLoRA(Rank = 2, Targets = "c_attn")]
        public partial class Block<TNorm> : Module<Tensor, Tensor> where TNorm : Module<Tensor, Tensor>
        {
            private readonly Linear c_attn = Linear(8, 8);
            private readonly TNorm norm;

            public Block(TNorm norm) : base("Block")
            {
                this.norm = norm;
                RegisterComponents();
            }

            public override Tensor forward(Tensor x) => c_attn.forward(norm.call(x));
        }
        """;

    /// <summary>A non-square target (an MLP up-projection d → 4d) in the global namespace, called twice.</summary>
    public const string NonSquareTarget = Usings + """
        [SingLoRA(Rank = 4, Targets = "up")]
        public partial class Mlp : Module<Tensor, Tensor>
        {
            private readonly Linear up = Linear(8, 32);
            private readonly Linear down = Linear(32, 8);

            public Mlp() : base(nameof(Mlp)) => RegisterComponents();

            public override Tensor forward(Tensor x) => down.forward(functional.gelu(up.forward(x)));

            public Tensor Hidden(Tensor x) => up.forward(x);
        }
        """;

    /// <summary><c>using System.Reflection;</c> makes a bare <c>Module</c> ambiguous: the generated code must not care.</summary>
    public const string UsingSystemReflection = """
        using System.Reflection;
        using SingLoRA;
        using TorchSharp.Modules;
        using static TorchSharp.torch;

        namespace Models;

        [SingLoRA(Rank = 2, Targets = "q,k")]
        public partial class ReflectiveAttention : nn.Module<Tensor, Tensor>
        {
            private readonly Linear q = nn.Linear(8, 8);
            private readonly nn.Module<Tensor, Tensor> k = nn.Linear(8, 8);

            public ReflectiveAttention() : base(nameof(ReflectiveAttention)) => RegisterComponents();

            public override Tensor forward(Tensor x) => q.forward(x) + k.call(x);

            public static string Name(MemberInfo member) => member.Name;
        }
        """;

    /// <summary>A class split over two files: fields and the attribute in one, the forward pass in the other.</summary>
    public static readonly (string Path, string Text)[] SplitPartialClass =
    {
        ("Attention.Fields.cs", Usings + """
            namespace Models;

            [SingLoRA(Rank = 2, Targets = "q,k")]
            public partial class SplitAttention : Module<Tensor, Tensor>
            {
                private readonly Linear q = Linear(8, 8);
                private readonly Linear k = Linear(8, 8);

                public SplitAttention() : base(nameof(SplitAttention)) => RegisterComponents();
            }
            """),
        ("Attention.Forward.cs", Usings + """
            namespace Models;

            public partial class SplitAttention
            {
                public override Tensor forward(Tensor x) => (q.forward(x) * k.forward(x)).sum(-1, keepdim: true);
            }
            """),
    };

    /// <summary>Targets that name no field, a static field or a field of another type are skipped silently.</summary>
    public const string SkippedTargets = Usings + """
        namespace Models;

        [SingLoRA(Rank = 2, Targets = "q, missing, scale, norm, q, shared")]
        public partial class Odd : Module<Tensor, Tensor>
        {
            private static readonly Linear shared = Linear(4, 4);
            private readonly Linear q = Linear(4, 4);
            private readonly LayerNorm norm = LayerNorm(4);
            private readonly double scale = 0.5;

            public Odd() : base(nameof(Odd)) => RegisterComponents();

            public override Tensor forward(Tensor x) => norm.call(q.forward(x)) * scale + shared.forward(x);
        }
        """;

    /// <summary>A Hugging Face style decoder layer that knows its <c>layer_idx</c> and adapts layers 0-3 and 8 only (PEFT's <c>layers_to_transform</c>).</summary>
    public const string LayerChoice = Usings + """
        namespace Models.Llama;

        [SingLoRA(Rank = 8, Targets = "q_proj,v_proj", LayerIndex = nameof(layer_idx), Layers = "0-3, 8")]
        public partial class DecoderLayer : Module<Tensor, Tensor>
        {
            private readonly int layer_idx;
            private readonly Linear q_proj;
            private readonly Module<Tensor, Tensor> v_proj;

            public DecoderLayer(int layerIdx) : base(nameof(DecoderLayer))
            {
                layer_idx = layerIdx;
                q_proj = Linear(16, 16);
                v_proj = Linear(16, 16);
                RegisterComponents();
            }

            public override Tensor forward(Tensor x) => q_proj.forward(x) + v_proj.call(x);
        }
        """;

    /// <summary>Every snapshotted case by name (the name of its snapshot file).</summary>
    public static readonly IReadOnlyDictionary<string, (string Path, string Text)[]> All = new Dictionary<string, (string, string)[]>
    {
        [nameof(LinearTargets)] = new[] { ("SelfAttention.cs", LinearTargets) },
        [nameof(ModuleTargets)] = new[] { ("AudioAttention.cs", ModuleTargets) },
        [nameof(NestedClass)] = new[] { ("Encoder.cs", NestedClass) },
        [nameof(GenericClass)] = new[] { ("Block.cs", GenericClass) },
        [nameof(NonSquareTarget)] = new[] { ("Mlp.cs", NonSquareTarget) },
        [nameof(UsingSystemReflection)] = new[] { ("ReflectiveAttention.cs", UsingSystemReflection) },
        [nameof(SplitPartialClass)] = SplitPartialClass,
        [nameof(SkippedTargets)] = new[] { ("Odd.cs", SkippedTargets) },
        [nameof(LayerChoice)] = new[] { ("DecoderLayer.cs", LayerChoice) },
    };

    /// <summary>The case names, for <c>[MemberData]</c>.</summary>
    public static IEnumerable<object[]> Names => All.Keys.Select(k => new object[] { k });
}
