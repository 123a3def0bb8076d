using System.Threading.Tasks;
using Xunit;
using Order = SingLoRA.Analyzers.Tests.Verify<SingLoRA.Analyzers.RegistrationOrderAnalyzer>;
using Usage = SingLoRA.Analyzers.Tests.Verify<SingLoRA.Analyzers.LinearTargetUsageAnalyzer>;

namespace SingLoRA.Analyzers.Tests;

/// <summary>
/// Paths that would run a target without its adapter: its weight used by hand (SLG0023), a target replaced after
/// RegisterComponents() (SLG0024), a Module-typed target handed out before the swap (SLG0025).
/// </summary>
public class BypassTests
{
    private static string Block(string members, string constructor = "RegisterComponents();") => $$"""
        [SingLoRA(Rank = 4, Targets = "q,h")]
        public partial class Block : Module<Tensor, Tensor>
        {
            internal Linear q = Linear(8, 8), other = Linear(8, 8);
            internal Module<Tensor, Tensor> h;
            internal Module<Tensor, Tensor>? seq;
            public Block() : base("block") { h = Linear(8, 8); {{constructor}} }
            public override Tensor forward(Tensor x) => q.forward(x) + h.forward(x);
        {{members}}
        }
        """;

    [Fact]
    public Task The_weight_of_a_target_in_functional_linear_or_a_matmul_is_reported() =>
        Usage.AnalyzeAsync(Block("""
                public Tensor ByHand(Tensor x) => functional.linear(x, {|SLG0023:q.weight|}, q.bias);
                public Tensor Product(Tensor x) => x.matmul({|SLG0023:q.weight|}.t());
                public Tensor Transposed(Tensor x) => {|SLG0023:this.q.weight|}.T.matmul(x);
            """) + """

            public static class Outside
            {
                public static Tensor Run(Block b, Tensor x) => functional.linear(x, {|SLG0023:b.q.weight|});
            }
            """);

    [Fact]
    public Task Other_uses_of_a_weight_are_not_reported() =>
        Usage.AnalyzeAsync(Block("""
                public long Rows => q.weight.shape[0];
                public void Init() { using var _ = no_grad(); init.normal_(q.weight); }
                public Tensor NotATarget(Tensor x) => functional.linear(x, other.weight);
                public Tensor Delta() => QAdapterDelta();
                private Tensor QAdapterDelta() => q.weight.clone();
            """));

    [Fact]
    public Task A_target_assigned_after_register_components_is_reported() =>
        Order.AnalyzeAsync(Block("""
                public void Reset() { {|SLG0024:q|} = Linear(8, 8); {|SLG0024:this.h|} = Linear(8, 8); }
                public void NotATarget() { other = Linear(8, 8); }
            """, "RegisterComponents(); {|SLG0024:q|} = Linear(8, 8);") + """

            public static class Outside
            {
                public static void Swap(Block b) => {|SLG0024:b.q|} = Linear(8, 8);
            }
            """);

    [Fact]
    public Task Assignments_before_register_components_and_in_helpers_it_follows_are_not_reported() =>
        Order.AnalyzeAsync("""
            [SingLoRA(Rank = 4, Targets = "q")]
            public partial class Block : Module<Tensor, Tensor>
            {
                private Linear q = Linear(8, 8);
                public Block() : base("block") { q = Linear(8, 8); Build(8); RegisterComponents(); }
                public Block(int d) : this() { }
                private void Build(int d) => q = Linear(d, d);
                public override Tensor forward(Tensor x) => q.forward(x);
            }
            """);

    [Fact]
    public Task A_chained_constructor_assigns_after_the_registration() =>
        Order.AnalyzeAsync("""
            [SingLoRA(Rank = 4, Targets = "q")]
            public partial class Block : Module<Tensor, Tensor>
            {
                private Linear q = Linear(8, 8);
                public Block() : base("block") => RegisterComponents();
                public Block(int d) : this() { {|SLG0024:q|} = Linear(d, d); }
                public override Tensor forward(Tensor x) => q.forward(x);
            }
            """);

    [Fact]
    public Task A_module_target_handed_out_before_the_swap_is_reported() =>
        Order.AnalyzeAsync(Block("", """
            seq = Sequential({|SLG0025:h|}, Linear(8, 8));
                    var alias = {|SLG0025:h|};
                    h.forward(zeros(8));
                    RegisterComponents();
                    seq = Sequential(h);
            """));
}
