using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using SingLoRA.Testing;
using Xunit;

namespace SingLoRA.Analyzers.Tests;

/// <summary>
/// Realistic model classes, run through the real generator and then every SingLoRA analyzer: the generated code
/// compiles, and the analyzers report nothing but the expected information notes.
/// </summary>
public class CorpusTests
{
    private const string Usings = """
        using System;
        using System.Collections.Generic;
        using SingLoRA;
        using TorchSharp;
        using TorchSharp.Modules;
        using static TorchSharp.torch;
        using static TorchSharp.torch.nn;

        """;

    /// <summary>LLaMA-style attention: private Linear wq, wk, wv, wo without bias, in bf16; blocks in a ModuleList.</summary>
    private const string Llama = Usings + """
        namespace Corpus.Llama;

        [SingLoRA(Rank = 8, Targets = "wq,wk", Alpha = 16, RampLength = 100)]
        public sealed partial class LlamaAttention : Module<Tensor, Tensor>
        {
            private readonly long nHeads, headDim;
            private Linear wq, wk, wv, wo;

            public LlamaAttention(long dim, long nHeads) : base(nameof(LlamaAttention))
            {
                this.nHeads = nHeads;
                headDim = dim / nHeads;
                wq = Linear(dim, dim, hasBias: false, dtype: ScalarType.BFloat16);
                wk = Linear(dim, dim, hasBias: false, dtype: ScalarType.BFloat16);
                wv = Linear(dim, dim, hasBias: false, dtype: ScalarType.BFloat16);
                wo = Linear(dim, dim, hasBias: false, dtype: ScalarType.BFloat16);
                RegisterComponents();
            }

            public override Tensor forward(Tensor x)
            {
                using var scope = NewDisposeScope();
                long b = x.shape[0], t = x.shape[1];
                var q = wq.forward(x).view(b, t, nHeads, headDim).transpose(1, 2);
                var k = wk.call(x).view(b, t, nHeads, headDim).transpose(1, 2);
                var v = wv.forward(x).view(b, t, nHeads, headDim).transpose(1, 2);
                var attention = (q.matmul(k.transpose(-2, -1)) / Math.Sqrt(headDim)).softmax(-1);
                var y = attention.matmul(v).transpose(1, 2).reshape(b, t, -1);
                return wo.forward(y).MoveToOuterDisposeScope();
            }
        }

        public sealed class LlamaBlock : Module<Tensor, Tensor>
        {
            private readonly LlamaAttention attention;
            private readonly Linear w1, w2, w3;

            public LlamaBlock(long dim, long hidden, long heads) : base(nameof(LlamaBlock))
            {
                attention = new LlamaAttention(dim, heads);
                w1 = Linear(dim, hidden, hasBias: false);
                w2 = Linear(hidden, dim, hasBias: false);
                w3 = Linear(dim, hidden, hasBias: false);
                RegisterComponents();
            }

            public override Tensor forward(Tensor x)
            {
                var h = x + attention.forward(x);
                return h + w2.forward(functional.silu(w1.forward(h)) * w3.forward(h));
            }
        }

        public sealed class Llama : Module<Tensor, Tensor>
        {
            private readonly ModuleList<LlamaBlock> layers = new ModuleList<LlamaBlock>();

            public Llama(int depth, long dim) : base(nameof(Llama))
            {
                for (int i = 0; i < depth; i++) layers.Add(new LlamaBlock(dim, 4 * dim, 4));
                RegisterComponents();
            }

            public override Tensor forward(Tensor x)
            {
                foreach (var layer in layers) x = layer.forward(x);
                return x;
            }
        }
        """;

    /// <summary>HF-style projections typed Module&lt;Tensor, Tensor&gt;, with the adapter swapped into the fields.</summary>
    private const string HuggingFace = Usings + """
        namespace Corpus.HuggingFace;

        [SingLoRA(Rank = 16, Targets = "q_proj, k_proj, v_proj", Alpha = 32, Dropout = 0.05, Scaling = ScalingRule.AlphaOverSqrtRank)]
        public partial class BertSelfAttention : Module<Tensor, Tensor>
        {
            private readonly Module<Tensor, Tensor> q_proj, k_proj, v_proj, out_proj;
            private readonly Module<Tensor, Tensor> dropout = Dropout(0.1);

            public BertSelfAttention(int hidden) : base(nameof(BertSelfAttention))
            {
                q_proj = Linear(hidden, hidden);
                k_proj = Linear(hidden, hidden);
                v_proj = Linear(hidden, hidden);
                out_proj = Linear(hidden, hidden);
                RegisterComponents();
            }

            public override Tensor forward(Tensor x)
            {
                var scores = q_proj.forward(x).matmul(k_proj.forward(x).transpose(-2, -1)).softmax(-1);
                return out_proj.forward(dropout.forward(scores).matmul(v_proj.call(x)));
            }
        }
        """;

    /// <summary>GPT-2 style fused, non-square c_attn (d → 3d) with constant sizes.</summary>
    private const string Gpt2 = Usings + """
        namespace Corpus.Gpt2;

        [SingLoRA(Rank = 8, Targets = "c_attn")]
        public partial class Gpt2Attention : Module<Tensor, Tensor>
        {
            public const int D = 768;
            private readonly Linear c_attn, c_proj;

            public Gpt2Attention() : base(nameof(Gpt2Attention))
            {
                c_attn = Linear(D, 3 * D);
                c_proj = Linear(D, D);
                RegisterComponents();
            }

            public override Tensor forward(Tensor x)
            {
                var qkv = c_attn.forward(x).chunk(3, -1);
                var weights = qkv[0].matmul(qkv[1].transpose(-2, -1)).softmax(-1);
                return c_proj.forward(weights.matmul(qkv[2]));
            }
        }
        """;

    /// <summary>A private nested attention class (as in TorchAudio's Wav2Vec2 components) with readonly projections.</summary>
    private const string Nested = Usings + """
        namespace Corpus.Nested;

        public sealed partial class Encoder : Module<Tensor, Tensor>
        {
            [SingLoRA(Rank = 4, Targets = "q_proj,k_proj")]
            private sealed partial class SelfAttention : Module<Tensor, Tensor>
            {
                private readonly Linear q_proj, k_proj, v_proj, out_proj;

                public SelfAttention(long d) : base(nameof(SelfAttention))
                {
                    q_proj = Linear(d, d);
                    k_proj = Linear(d, d);
                    v_proj = Linear(d, d);
                    out_proj = Linear(d, d);
                    RegisterComponents();
                }

                public override Tensor forward(Tensor x) =>
                    out_proj.forward(q_proj.forward(x).matmul(k_proj.forward(x).transpose(-2, -1)).softmax(-1).matmul(v_proj.forward(x)));
            }

            private readonly ModuleList<Module<Tensor, Tensor>> layers = new ModuleList<Module<Tensor, Tensor>>();

            public Encoder(long d, int depth) : base(nameof(Encoder))
            {
                for (int i = 0; i < depth; i++) layers.Add(new SelfAttention(d));
                RegisterComponents();
            }

            public override Tensor forward(Tensor x)
            {
                foreach (var layer in layers) x = layer.forward(x);
                return x;
            }
        }
        """;

    /// <summary>An MLP whose layers are created by field initialisers (non-square, constant sizes).</summary>
    private const string Mlp = Usings + """
        namespace Corpus.Mlp;

        [SingLoRA(Rank = 8, Targets = "fc1,fc2", RampLength = 0, Init = AdapterInit.KaimingRank)]
        public partial class Mlp : Module<Tensor, Tensor>
        {
            private readonly Linear fc1 = Linear(128, 512);
            private readonly Linear fc2 = Linear(512, 128);
            private readonly Module<Tensor, Tensor> act = GELU();

            public Mlp() : base(nameof(Mlp)) => RegisterComponents();

            public override Tensor forward(Tensor x) => fc2.forward(act.forward(fc1.forward(x)));
        }
        """;

    /// <summary>A partial class split over two files: the attribute and fields in one, forward in the other.</summary>
    private const string SplitA = Usings + """
        namespace Corpus.Split;

        [SingLoRA(Rank = 4, Targets = "q,k")]
        public partial class SplitAttention : Module<Tensor, Tensor>
        {
            private readonly Linear q, k;

            public SplitAttention(long d) : base(nameof(SplitAttention))
            {
                q = Linear(d, d);
                k = Linear(d, d);
                RegisterComponents();
            }
        }
        """;

    private const string SplitB = Usings + """
        namespace Corpus.Split;

        public partial class SplitAttention
        {
            public override Tensor forward(Tensor x) => q.forward(x).matmul(k.call(x).transpose(-2, -1));
        }
        """;

    [Fact]
    public async Task Realistic_models_compile_clean_with_only_the_expected_notes()
    {
        var diagnostics = await AnalyzeGeneratedAsync(
            ("Llama.cs", Llama), ("HuggingFace.cs", HuggingFace), ("Gpt2.cs", Gpt2), ("Nested.cs", Nested),
            ("Mlp.cs", Mlp), ("SplitA.cs", SplitA), ("SplitB.cs", SplitB));

        Assert.Empty(diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning).Select(d => d.ToString()));
        var notes = diagnostics.Select(d => $"{d.Id} {Path(d)}").OrderBy(s => s).ToArray();
        Assert.Equal(new[] { "SLG0004 Gpt2.cs", "SLG0004 Mlp.cs", "SLG0004 Mlp.cs", "SLG0027 Mlp.cs" }, notes);   // the MLP has RampLength = 0
    }

    [Fact]
    public async Task Generated_members_are_not_reported_as_collisions()
    {
        // Every target kind at once; the generated partial declares all the members SLG0018 guards.
        var diagnostics = await AnalyzeGeneratedAsync(("HuggingFace.cs", HuggingFace), ("Llama.cs", Llama));
        Assert.Empty(diagnostics.Select(d => d.ToString()));
    }

    private static string Path(Diagnostic diagnostic) => System.IO.Path.GetFileName(diagnostic.Location.SourceTree?.FilePath ?? "");

    /// <summary>Runs the generator, checks the output compiles without errors, and returns every SingLoRA analyzer's diagnostics.</summary>
    private static async Task<ImmutableArray<Diagnostic>> AnalyzeGeneratedAsync(params (string Path, string Text)[] sources)
    {
        var run = CompileHarness.RunGenerator(CompileHarness.Compile(sources, "Corpus"));
        Assert.Empty(run.Diagnostics);
        Assert.True(run.Output.SyntaxTrees.Count() > sources.Length, "the generator produced nothing");
        Assert.Empty(run.Output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()));

        var analyzers = CompileHarness.AnalyzersIn(typeof(DiagnosticDescriptors).Assembly);
        Assert.Equal(new[] { "LayerSizeAnalyzer", "LinearTargetUsageAnalyzer", "RampStepAnalyzer", "RegistrationOrderAnalyzer", "SingLoRAModuleAnalyzer" },
            analyzers.Select(a => a.GetType().Name).ToArray());
        var (all, exceptions) = await CompileHarness.RunAnalyzersAsync(run.Output, analyzers);
        Assert.Empty(exceptions);
        return all.Where(d => d.Id.StartsWith("SLG", System.StringComparison.Ordinal) || d.Id == "AD0001").ToImmutableArray();
    }
}
