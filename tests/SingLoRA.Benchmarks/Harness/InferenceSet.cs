using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA.Benchmarks.Harness;

/// <summary>The inference comparison's layers: base, merged adapter, unmerged adapter, all from the same <c>W0</c>, and a batch.</summary>
public static class InferenceSet
{
    /// <summary>Builds them; the adapters are past the ramp (<c>u = 1</c>), and trained for 3 AdamW steps so <c>A</c> is not its init.</summary>
    public static (Linear Base, SingLoRALinear Merged, SingLoRALinear Unmerged, Tensor X) Create(LayerShape shape, int rank, int rows, int seed = 0)
    {
        manual_seed(seed);
        var baseLayer = nn.Linear(shape.In, shape.Out);
        baseLayer.weight.requires_grad = false;
        baseLayer.bias!.requires_grad = false;
        // Copies of the same W0 and b (not a re-seeded draw: the global generator is shared with whatever else runs
        // in the process, for example parallel tests, so two draws after one seed can differ).
        Linear Fresh() => nn.Linear(
            new Parameter(baseLayer.weight.detach().clone(), requires_grad: false),
            new Parameter(baseLayer.bias.detach().clone(), requires_grad: false));
        manual_seed(seed + 3);
        var merged = new SingLoRALinear(Fresh(), new SingLoRAOptions(rank, RampLength: 0));
        var unmerged = new SingLoRALinear(Fresh(), new SingLoRAOptions(rank, RampLength: 0));
        using (no_grad()) unmerged.A.copy_(merged.A);
        merged.Merge();
        merged.eval();
        unmerged.eval();
        manual_seed(seed + 5);
        var x = randn(rows, shape.In);
        return (baseLayer, merged, unmerged, x);
    }
}
