using System.Threading.Tasks;
using SingLoRA.CodeFixes;
using Xunit;
using V = SingLoRA.Analyzers.Tests.Verify<SingLoRA.Analyzers.SingLoRAModuleAnalyzer>;

namespace SingLoRA.Analyzers.Tests;

/// <summary>Each code fix: the source before, the source after.</summary>
public class CodeFixTests
{
    private static readonly string[] NoNotes = { "SLG0004", "SLG0005" };

    private const string Body = """
        {
            private readonly Linear q = Linear(16, 16), k = Linear(16, 8);
            public Attention() : base("attention") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => q.forward(x) + k.forward(x);
        }
        """;

    [Fact]
    public Task Make_partial_fixes_the_class() =>
        V.FixAsync<MakePartialCodeFixProvider>(
            "[SingLoRA(Rank = 4, Targets = \"q,k\")]\npublic sealed class {|SLG0015:Attention|} : Module<Tensor, Tensor>\n" + Body,
            "[SingLoRA(Rank = 4, Targets = \"q,k\")]\npublic sealed partial class Attention : Module<Tensor, Tensor>\n" + Body,
            NoNotes);

    [Fact]
    public Task Make_partial_fixes_the_containing_types() =>
        V.FixAsync<MakePartialCodeFixProvider>(
            "public static class Model\n{\n    internal class Layer\n    {\n[SingLoRA(Rank = 4, Targets = \"q,k\")]\nclass {|SLG0015:{|SLG0016:{|SLG0016:Attention|}|}|} : Module<Tensor, Tensor>\n" + Body + "\n    }\n}",
            "public static partial class Model\n{\n    internal partial class Layer\n    {\n[SingLoRA(Rank = 4, Targets = \"q,k\")]\npartial class Attention : Module<Tensor, Tensor>\n" + Body + "\n    }\n}",
            NoNotes);

    [Fact]
    public Task Unknown_target_is_replaced_with_the_closest_field() =>
        V.FixAsync<ReplaceTargetCodeFixProvider>(
            "[SingLoRA(Rank = 4, Targets = \"q, {|SLG0012:kk|}\")]\npublic partial class Attention : Module<Tensor, Tensor>\n" + Body,
            "[SingLoRA(Rank = 4, Targets = \"q, k\")]\npublic partial class Attention : Module<Tensor, Tensor>\n" + Body,
            NoNotes);

    [Fact]
    public Task Rank_is_clamped_to_a_rank_that_is_valid_and_low_for_every_target() =>
        Verify<LayerSizeAnalyzer>.FixAsync<ClampRankCodeFixProvider>(
            "[SingLoRA(Rank = {|SLG0002:{|SLG0002:32|}|}, Targets = \"q,k\")]\npublic partial class Attention : Module<Tensor, Tensor>\n" + Body,
            "[SingLoRA(Rank = 4, Targets = \"q,k\")]\npublic partial class Attention : Module<Tensor, Tensor>\n" + Body,
            NoNotes);

    [Fact]
    public Task A_full_rank_is_lowered_by_the_same_fix() =>
        Verify<LayerSizeAnalyzer>.FixAsync<ClampRankCodeFixProvider>(
            "[SingLoRA(Rank = {|SLG0003:8|}, Targets = \"q,k\")]\npublic partial class Attention : Module<Tensor, Tensor>\n" + Body,
            "[SingLoRA(Rank = 4, Targets = \"q,k\")]\npublic partial class Attention : Module<Tensor, Tensor>\n" + Body,
            NoNotes);

    [Fact]
    public Task Two_unknown_targets_in_one_literal_are_both_replaced() =>
        V.FixAsync<ReplaceTargetCodeFixProvider>(
            "[SingLoRA(Rank = 4, Targets = \"{|SLG0012:qq|}, {|SLG0012:kk|}\")]\npublic partial class Attention : Module<Tensor, Tensor>\n" + Body,
            "[SingLoRA(Rank = 4, Targets = \"q, k\")]\npublic partial class Attention : Module<Tensor, Tensor>\n" + Body,
            NoNotes);

    [Fact]
    public Task A_layer_index_assigned_after_RegisterComponents_is_moved_before_it_in_every_constructor() =>
        V.FixAsync<MoveLayerIndexAssignmentCodeFixProvider>(
            """
            [SingLoRA(Rank = 4, Targets = "q", LayerIndex = nameof(layer_idx), Layers = "1")]
            public partial class Layer : Module<Tensor, Tensor>
            {
                private readonly Linear q;
                private int layer_idx;

                public Layer(int index) : base(nameof(Layer))
                {
                    q = Linear(8, 8);
                    {|SLG0031:RegisterComponents()|};
                    layer_idx = index;
                }

                public Layer(int index, long d) : base(nameof(Layer))
                {
                    q = Linear(d, d);
                    {|SLG0031:RegisterComponents()|};
                    q.weight.requires_grad = false;
                    this.layer_idx = index + 1;
                }

                public override Tensor forward(Tensor x) => q.forward(x);
            }
            """,
            """
            [SingLoRA(Rank = 4, Targets = "q", LayerIndex = nameof(layer_idx), Layers = "1")]
            public partial class Layer : Module<Tensor, Tensor>
            {
                private readonly Linear q;
                private int layer_idx;

                public Layer(int index) : base(nameof(Layer))
                {
                    q = Linear(8, 8);
                    layer_idx = index;
                    RegisterComponents();
                }

                public Layer(int index, long d) : base(nameof(Layer))
                {
                    q = Linear(d, d);
                    this.layer_idx = index + 1;
                    RegisterComponents();
                    q.weight.requires_grad = false;
                }

                public override Tensor forward(Tensor x) => q.forward(x);
            }
            """,
            NoNotes);

    [Fact]
    public Task The_moved_assignment_keeps_its_own_comment_and_the_call_keeps_its_comment() =>
        V.FixAsync<MoveLayerIndexAssignmentCodeFixProvider>(
            """
            [SingLoRA(Rank = 4, Targets = "q", LayerIndex = nameof(layer_idx), Layers = "1")]
            public partial class Layer : Module<Tensor, Tensor>
            {
                private readonly Linear q = Linear(8, 8);
                private int layer_idx;

                public Layer(int index) : base(nameof(Layer))
                {
                    {|SLG0031:RegisterComponents()|}; // creates the adapters
                    // the layer's place in the stack
                    layer_idx = index; // zero-based
                }

                public override Tensor forward(Tensor x) => q.forward(x) * layer_idx;
            }
            """,
            """
            [SingLoRA(Rank = 4, Targets = "q", LayerIndex = nameof(layer_idx), Layers = "1")]
            public partial class Layer : Module<Tensor, Tensor>
            {
                private readonly Linear q = Linear(8, 8);
                private int layer_idx;

                public Layer(int index) : base(nameof(Layer))
                {
                    // the layer's place in the stack
                    layer_idx = index; // zero-based
                    RegisterComponents(); // creates the adapters
                }

                public override Tensor forward(Tensor x) => q.forward(x) * layer_idx;
            }
            """,
            NoNotes);

    [Fact]
    public Task A_layer_index_never_assigned_gets_no_fix() =>
        V.FixAsync<MoveLayerIndexAssignmentCodeFixProvider>(
            """
            [SingLoRA(Rank = 4, Targets = "q", LayerIndex = nameof(layer_idx), Layers = "1")]
            public partial class Layer : Module<Tensor, Tensor>
            {
                private readonly Linear q = Linear(8, 8);
                private int layer_idx;
                public Layer() : base(nameof(Layer)) { {|SLG0031:RegisterComponents()|}; }
                public override Tensor forward(Tensor x) => q.forward(x) * layer_idx;
            }
            """,
            """
            [SingLoRA(Rank = 4, Targets = "q", LayerIndex = nameof(layer_idx), Layers = "1")]
            public partial class Layer : Module<Tensor, Tensor>
            {
                private readonly Linear q = Linear(8, 8);
                private int layer_idx;
                public Layer() : base(nameof(Layer)) { {|SLG0031:RegisterComponents()|}; }
                public override Tensor forward(Tensor x) => q.forward(x) * layer_idx;
            }
            """,
            NoNotes);

    [Fact]
    public Task A_primary_constructor_becomes_a_constructor_that_calls_register_components() =>
        V.FixAsync<AddRegisterComponentsCallCodeFixProvider>(
            """
            [SingLoRA(Rank = 4, Targets = "q,k")]
            public partial class {|SLG0020:Attention|}(long d, double scale) : Module<Tensor, Tensor>(nameof(Attention))
            {
                private readonly Linear q = Linear(d, d), k = Linear(d, d);
                private readonly Linear v = Linear(8, 8);
                public override Tensor forward(Tensor x) => (q.forward(x) + k.forward(x) + v.forward(x)) * scale;
            }
            """,
            """
            [SingLoRA(Rank = 4, Targets = "q,k")]
            public partial class Attention : Module<Tensor, Tensor>
            {
                private readonly Linear q, k;
                private readonly Linear v = Linear(8, 8);
                private readonly double scale;

                public Attention(long d, double scale) : base(nameof(Attention))
                {
                    this.scale = scale;
                    q = Linear(d, d);
                    k = Linear(d, d);
                    RegisterComponents();
                }

                public override Tensor forward(Tensor x) => (q.forward(x) + k.forward(x) + v.forward(x)) * scale;
            }
            """);

    [Fact]
    public Task Every_constructor_that_does_not_chain_gets_the_call() =>
        V.FixAsync<AddRegisterComponentsCallCodeFixProvider>(
            """
            [SingLoRA(Rank = 4, Targets = "q")]
            public partial class {|SLG0020:Attention|} : Module<Tensor, Tensor>
            {
                private readonly Linear q;
                public Attention(int d) : base("attention") => q = Linear(d, d);
                public Attention(long d, string name) : base(name) { q = Linear(d, d); }
                public Attention() : this(8) { }
                public override Tensor forward(Tensor x) => q.forward(x);
            }
            """,
            """
            [SingLoRA(Rank = 4, Targets = "q")]
            public partial class Attention : Module<Tensor, Tensor>
            {
                private readonly Linear q;
                public Attention(int d) : base("attention")
                {
                    q = Linear(d, d);
                    RegisterComponents();
                }

                public Attention(long d, string name) : base(name) { q = Linear(d, d); RegisterComponents(); }
                public Attention() : this(8) { }
                public override Tensor forward(Tensor x) => q.forward(x);
            }
            """);

    [Fact]
    public Task Register_components_call_is_added_to_the_constructor() =>
        V.FixAsync<AddRegisterComponentsCallCodeFixProvider>(
            """
            [SingLoRA(Rank = 4, Targets = "q,k")]
            public partial class {|SLG0020:Attention|} : Module<Tensor, Tensor>
            {
                private readonly Linear q, k;
                public Attention(int d) : base("attention")
                {
                    q = Linear(d, d);
                    k = Linear(d, d);
                }
                public override Tensor forward(Tensor x) => q.forward(x) + k.forward(x);
            }
            """,
            """
            [SingLoRA(Rank = 4, Targets = "q,k")]
            public partial class Attention : Module<Tensor, Tensor>
            {
                private readonly Linear q, k;
                public Attention(int d) : base("attention")
                {
                    q = Linear(d, d);
                    k = Linear(d, d);
                    RegisterComponents();
                }
                public override Tensor forward(Tensor x) => q.forward(x) + k.forward(x);
            }
            """);
}
