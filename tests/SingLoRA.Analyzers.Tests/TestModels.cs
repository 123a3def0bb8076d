namespace SingLoRA.Analyzers.Tests;

/// <summary>Model sources shared by the analyzer tests.</summary>
internal static class TestModels
{
    /// <summary>An attention block with q, k, v of the given sizes (constants), the attribute text as given.</summary>
    public static string Attention(string attribute, string qSize = "16, 16", string kSize = "16, 16", string extra = "") => $$"""
        [{{attribute}}]
        public partial class Attention : Module<Tensor, Tensor>
        {
            private readonly Linear q, k, v;

            public Attention() : base(nameof(Attention))
            {
                q = Linear({{qSize}});
                k = Linear({{kSize}});
                v = Linear(16, 16);
                RegisterComponents();
            }

            public override Tensor forward(Tensor x) => q.forward(x) + k.call(x) + v.forward(x);
        {{extra}}
        }
        """;
}
