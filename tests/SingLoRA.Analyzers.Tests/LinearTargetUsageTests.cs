using System.Threading.Tasks;
using Xunit;
using V = SingLoRA.Analyzers.Tests.Verify<SingLoRA.Analyzers.LinearTargetUsageAnalyzer>;

namespace SingLoRA.Analyzers.Tests;

/// <summary>SLG0014: a Linear target reaches its adapter only through forward(x) / call(x) inside the annotated class.</summary>
public class LinearTargetUsageTests
{
    private static string Block(string members, string forward = "q.forward(x) + k.call(x)") => $$"""
        [SingLoRA(Rank = 4, Targets = "q,k,h")]
        public partial class Block : Module<Tensor, Tensor>
        {
            internal readonly Linear q = Linear(8, 8), k = Linear(8, 8), other = Linear(8, 8);
            internal readonly Module<Tensor, Tensor> h = Linear(8, 8);
            public Block() : base("block") { RegisterComponents(); }
            public override Tensor forward(Tensor x) => {{forward}};
        {{members}}
        }
        """;

    [Fact]
    public Task Calls_inside_the_class_are_reachable() =>
        V.AnalyzeAsync(Block("""
                public Tensor Twice(Tensor x) { Func<Tensor, Tensor> f = t => this.q.forward(t); return f(k.call(x)); }
                public long Width => q.in_features + q.weight.shape[0];
                public string Name => nameof(q);
                public void Replace() { if (q is not null && q != other) { } }
                public Sequential Others() => Sequential(other, h);
                private sealed class Helper { public Tensor Run(Block b, Tensor x) => b.q.forward(x); }
            """));

    [Fact]
    public Task Passing_a_target_as_an_argument_is_reported() =>
        V.AnalyzeAsync(Block("    public Sequential Stack() => Sequential({|SLG0014:q|}, other);"));

    [Fact]
    public Task Storing_or_returning_a_target_is_reported() =>
        V.AnalyzeAsync(Block("""
                public Linear Get() => {|SLG0014:q|};
                public Tensor Alias(Tensor x) { var layer = {|SLG0014:k|}; return layer.forward(x); }
            """));

    [Fact]
    public Task A_method_group_is_reported() =>
        V.AnalyzeAsync(Block("    public Func<Tensor, Tensor> Fn => {|SLG0014:q|}.forward;"));

    [Fact]
    public Task A_null_conditional_call_is_reported() =>
        V.AnalyzeAsync(Block("    public Tensor? Maybe(Tensor x) => {|SLG0014:q|}?.forward(x);"));

    [Fact]
    public Task A_call_from_another_class_is_reported() =>
        V.AnalyzeAsync(Block("") + """

            public static class Outside
            {
                public static Tensor Run(Block block, Tensor x) => {|SLG0014:block.q|}.forward(x);
                public static long Size(Block block) => block.q.out_features;
            }
            """);
}
