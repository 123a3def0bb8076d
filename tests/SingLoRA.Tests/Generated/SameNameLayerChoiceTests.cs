using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace SingLoRA.Tests.Generated.NsA
{
    /// <summary>An annotated class called <c>Attention</c>, with no layer index (chosen by construction order).</summary>
    [SingLoRA(Rank = 2, Targets = "q")]
    public partial class Attention : Module<Tensor, Tensor>
    {
        private readonly Linear q;

        public Attention() : base(nameof(Attention))
        {
            q = Linear(4, 4);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => q.forward(x);
    }
}

namespace SingLoRA.Tests.Generated.NsB
{
    /// <summary>Another annotated class called <c>Attention</c>, in another namespace.</summary>
    [SingLoRA(Rank = 2, Targets = "q")]
    public partial class Attention : Module<Tensor, Tensor>
    {
        private readonly Module<Tensor, Tensor> q;

        public Attention() : base(nameof(Attention))
        {
            q = Linear(4, 4);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => q.forward(x);
    }
}

namespace SingLoRA.Tests.Generated
{
    /// <summary>
    /// <c>SingLoRAOverrides.Layers(i)</c> without a layer index adapts the i-th instance of each annotated class. Two
    /// classes that share a simple name are still two classes: their instances are counted apart, whatever the order they
    /// are built in (issue 19, bug 1: the count was keyed by the display name, so they shared one counter).
    /// </summary>
    public class SameNameLayerChoiceTests
    {
        [Theory]
        [InlineData("AABB")]
        [InlineData("ABAB")]
        [InlineData("BBAA")]
        public void Classes_with_the_same_name_in_two_namespaces_are_counted_apart(string order)
        {
            using var scope = torch.NewDisposeScope();
            var built = new System.Collections.Generic.List<(char Class, ISingLoRAModule Module)>();
            using (SingLoRAOverrides.Layers(1))
                foreach (char c in order)
                    built.Add((c, c == 'A' ? new NsA.Attention() : new NsB.Attention()));

            foreach (var cls in new[] { 'A', 'B' })
            {
                var adapted = built.Where(b => b.Class == cls).Select(b => b.Module.Adapters.Count == 1).ToArray();
                Assert.Equal(new[] { false, true }, adapted);
            }
        }
    }
}
