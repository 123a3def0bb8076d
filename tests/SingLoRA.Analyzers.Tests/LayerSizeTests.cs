using System.Threading.Tasks;
using Xunit;
using V = SingLoRA.Analyzers.Tests.Verify<SingLoRA.Analyzers.LayerSizeAnalyzer>;

namespace SingLoRA.Analyzers.Tests;

/// <summary>
/// SLG0002..SLG0005: the rank against the layers it adapts, where their sizes are compile-time facts, inside the class
/// or through the constructor arguments of the places it is built.
/// </summary>
public class LayerSizeTests
{
    private static string Attention(string attribute, string qSize = "16, 16", string kSize = "16, 16", string extra = "") =>
        TestModels.Attention(attribute, qSize, kSize, extra);

    private static readonly string[] NoNotes = { "SLG0004", "SLG0005" };

    // --- Sizes that are constants inside the class: reported on the attribute.

    [Fact]
    public Task Rank_larger_than_the_layer_is_reported() =>
        V.AnalyzeAsync(new[] { Attention("SingLoRA(Rank = {|SLG0002:12|}, Targets = \"q,k\")", kSize: "16, 8") }, NoNotes);

    [Fact]
    public Task Rank_within_the_layer_is_accepted() =>
        V.AnalyzeAsync(new[] { Attention("SingLoRA(Rank = 7, Targets = \"q,k\")", kSize: "16, 8") }, NoNotes);

    [Fact]
    public Task Rank_against_sizes_from_constants_named_arguments_and_initialisers() =>
        V.AnalyzeAsync(new[] { """
            [SingLoRA(Rank = {|SLG0002:{|SLG0002:40|}|}, Targets = "a,b,c")]
            public partial class Mlp : Module<Tensor, Tensor>
            {
                private const int D = 32;
                private Linear a = Linear(D, D * 2);
                private Module<Tensor, Tensor> b = Linear(inputSize: 64, outputSize: D, hasBias: false);
                private Linear c;
                public Mlp(int d) : base("mlp") { c = Linear(d, d); RegisterComponents(); }
                public override Tensor forward(Tensor x) => c.forward(b.forward(a.forward(x)));
            }
            """ }, NoNotes);

    [Fact]
    public Task Rank_is_not_checked_when_sizes_are_not_constants() =>
        V.AnalyzeAsync(new[] { Attention("SingLoRA(Rank = 400, Targets = \"q,k\")", qSize: "d, d", kSize: "d, 2 * d")
            .Replace("public Attention()", "public Attention(int d)") }, NoNotes);

    [Fact]
    public Task Rank_equal_to_the_layer_is_not_low_rank() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = {|SLG0003:{|SLG0003:16|}|}, Targets = \"q,k\")"));

    [Fact]
    public Task Rank_below_the_layer_is_low_rank() => V.AnalyzeAsync(Attention("SingLoRA(Rank = 15, Targets = \"q,k\")"));

    // --- SLG0004 / SLG0005 notes

    [Fact]
    public Task Non_square_target_gets_the_truncation_note() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,{|SLG0004:k|}\")", kSize: "16, 48"));

    [Fact]
    public Task Lone_square_target_gets_the_symmetric_note() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"{|SLG0005:q|}\")"));

    [Fact]
    public Task Lone_non_square_target_gets_only_the_truncation_note() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"{|SLG0004:q|}\")", qSize: "16, 32"));

    [Fact]
    public Task Lone_square_note_can_be_turned_off_in_editorconfig() =>
        V.AnalyzeAsync(new[] { Attention("SingLoRA(Rank = 4, Targets = \"q\")") }, null,
            "root = true\n[*.cs]\ndotnet_diagnostic.SLG0005.severity = none\n");

    // --- Sizes from constructor arguments and configs: reported where the class is built.

    /// <summary>The usual attention block: every size from the constructor.</summary>
    private const string SelfAttention = """
        [SingLoRA(Rank = 128, Targets = "q,k")]
        public partial class SelfAttention : Module<Tensor, Tensor>
        {
            private readonly Linear q, k, v;

            public SelfAttention(long d) : base(nameof(SelfAttention))
            {
                q = Linear(d, d);
                k = Linear(d, d);
                v = Linear(d, d);
                RegisterComponents();
            }

            public override Tensor forward(Tensor x) => q.forward(x) + k.forward(x) + v.forward(x);
        }
        """;

    [Fact]
    public Task A_constant_argument_that_makes_the_rank_invalid_is_reported_at_the_creation() =>
        V.AnalyzeAsync(new[] { SelfAttention + """

            public static class Build
            {
                public static SelfAttention Small() => {|#0:new SelfAttention(64)|};
                public static SelfAttention Large() => new SelfAttention(1024);
            }
            """ }, null,
            V.Diagnostic("SLG0002").WithLocation(0).WithArguments(128, 64, "q", 64, 64, " when SelfAttention is built here with d = 64"),
            V.Diagnostic("SLG0002").WithLocation(0).WithArguments(128, 64, "k", 64, 64, " when SelfAttention is built here with d = 64"));

    [Fact]
    public Task Sizes_known_only_at_run_time_are_not_reported() =>
        V.AnalyzeAsync(SelfAttention + """

            public static class Build
            {
                public static SelfAttention FromArgs(string[] args) => new SelfAttention(long.Parse(args[0]));
                public static SelfAttention FromField() => new SelfAttention(Width);
                public static SelfAttention Reassigned() { long d = 64; d = Read(); return new SelfAttention(d); }
                public static SelfAttention InLoop() { SelfAttention? last = null; for (long d = 8; d < 64; d *= 2) last = new SelfAttention(d); return last!; }
                public static long Width = 64;
                private static long Read() => 32;
            }
            """);

    /// <summary>A Llama-style model: sizes in a config record, arithmetic on them, blocks in a ModuleList.</summary>
    private const string Llama = """
        public sealed record LlamaConfig(int Dim, int NHeads, int NLayers)
        {
            public int HeadDim => Dim / NHeads;
            public int Hidden { get; init; } = 4 * 64;
        }

        [SingLoRA(Rank = 32, Targets = "wq,wk")]
        public sealed partial class LlamaAttention : Module<Tensor, Tensor>
        {
            private readonly Linear wq, wk, wv, wo;

            public LlamaAttention(LlamaConfig config) : base(nameof(LlamaAttention))
            {
                wq = Linear(config.Dim, config.NHeads * config.HeadDim, hasBias: false);
                wk = Linear(config.Dim, config.NHeads * config.HeadDim, hasBias: false);
                wv = Linear(config.Dim, config.Dim, hasBias: false);
                wo = Linear(config.Dim, config.Dim, hasBias: false);
                RegisterComponents();
            }

            public override Tensor forward(Tensor x) => wo.forward(wq.forward(x) + wk.forward(x) + wv.forward(x));
        }

        public sealed class LlamaBlock : Module<Tensor, Tensor>
        {
            private readonly LlamaAttention attention;
            private readonly Linear w1, w2;

            public LlamaBlock(LlamaConfig config) : base(nameof(LlamaBlock))
            {
                attention = new LlamaAttention(config);
                w1 = Linear(config.Dim, config.Hidden, hasBias: false);
                w2 = Linear(config.Hidden, config.Dim, hasBias: false);
                RegisterComponents();
            }

            public override Tensor forward(Tensor x) => x + w2.forward(w1.forward(x + attention.forward(x)));
        }

        public sealed class Llama : Module<Tensor, Tensor>
        {
            private readonly ModuleList<LlamaBlock> layers = new ModuleList<LlamaBlock>();

            public Llama(LlamaConfig config) : base(nameof(Llama))
            {
                for (int i = 0; i < config.NLayers; i++) layers.Add(new LlamaBlock(config));
                RegisterComponents();
            }

            public override Tensor forward(Tensor x)
            {
                foreach (var layer in layers) x = layer.forward(x);
                return x;
            }
        }
        """;

    [Fact]
    public Task A_llama_built_from_a_config_record_is_checked_through_its_blocks() =>
        V.AnalyzeAsync(new[] { Llama + """

            public static class Models
            {
                public static readonly LlamaConfig Tiny = new(Dim: 16, NHeads: 4, NLayers: 2);

                public static Llama TinyModel() => {|#0:new Llama(Tiny)|};
                public static Llama Small() => new Llama(new LlamaConfig(Dim: 256, NHeads: 8, NLayers: 4));
                public static Llama Wide() { var config = new LlamaConfig(512, 8, 2) with { Hidden = 2048 }; return new Llama(config); }
                public static Llama FromFile(string path) => new Llama(System.Text.Json.JsonSerializer.Deserialize<LlamaConfig>(System.IO.File.ReadAllText(path))!);
            }
            """ }, null,
            V.Diagnostic("SLG0002").WithLocation(0)
                .WithArguments(32, 16, "wq", 16, 16, " when LlamaAttention is built here (Llama → LlamaBlock → LlamaAttention) with config.Dim = 16, config.NHeads = 4"),
            V.Diagnostic("SLG0002").WithLocation(0)
                .WithArguments(32, 16, "wk", 16, 16, " when LlamaAttention is built here (Llama → LlamaBlock → LlamaAttention) with config.Dim = 16, config.NHeads = 4"));

    [Fact]
    public Task Arithmetic_const_fields_named_arguments_and_config_classes_are_followed() =>
        V.AnalyzeAsync(new[] { """
            public sealed class MlpConfig
            {
                public const int Base = 8;
                public int DModel { get; init; } = Base * 2;
                public int Heads { get; init; } = 2;
            }

            [SingLoRA(Rank = 8, Targets = "up,head")]
            public partial class Mlp : Module<Tensor, Tensor>
            {
                private readonly Linear up, head;
                private readonly long headDim;

                public Mlp(MlpConfig config, long scale) : base(nameof(Mlp))
                {
                    headDim = config.DModel / config.Heads;
                    up = Linear(config.DModel, scale * config.DModel);
                    head = Linear(inputSize: headDim, outputSize: headDim);
                    RegisterComponents();
                }

                public override Tensor forward(Tensor x) => head.forward(up.forward(x));
            }

            public static class Build
            {
                public static Mlp Make() => {|#0:new Mlp(new MlpConfig { Heads = 2 }, scale: 4)|};
                public static Mlp Ok() => {|#1:new Mlp(new MlpConfig { DModel = 64, Heads = 4 }, 4)|};
            }
            """ }, null,
            V.Diagnostic("SLG0004").WithLocation(0).WithArguments("up", 16, 64, 64, " when Mlp is built here with config.DModel = 16, scale = 4"),
            V.Diagnostic("SLG0003").WithLocation(0).WithArguments(8, "head", 64, 64, " when Mlp is built here with config.DModel = 16, config.Heads = 2"),
            V.Diagnostic("SLG0004").WithLocation(1).WithArguments("up", 64, 256, 256, " when Mlp is built here with config.DModel = 64, scale = 4"));

    [Fact]
    public Task Sizes_fixed_inside_the_class_are_reported_once_on_the_attribute_not_at_each_creation() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = {|SLG0002:{|SLG0002:20|}|}, Targets = \"q,k\")") + """

            public static class Build
            {
                public static Attention One() => new Attention();
            }
            """);
}
