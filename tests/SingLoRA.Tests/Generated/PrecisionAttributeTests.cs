using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace SingLoRA.Tests.Generated;

/// <summary>A bf16 projection whose adapter keeps the base dtype, declared in the attribute.</summary>
[SingLoRA(Rank = 2, Targets = "proj", Precision = AdapterPrecision.SameAsBase)]
public partial class Bf16Projection : Module<Tensor, Tensor>
{
    private readonly Linear proj;

    public Bf16Projection() : base(nameof(Bf16Projection))
    {
        proj = Linear(8, 8, dtype: ScalarType.BFloat16);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => proj.forward(x);
}

public class PrecisionAttributeTests
{
    [Fact]
    public void The_attribute_sets_the_adapter_precision()
    {
        using var scope = NewDisposeScope();
        var module = new Bf16Projection();
        Assert.Equal(AdapterPrecision.SameAsBase, module.SingLoRAOptions.Precision);
        Assert.Equal(ScalarType.BFloat16, module.ProjAdapter.A.dtype);
        using (SingLoRAOverrides.Scope(o => o with { Precision = AdapterPrecision.AtLeastFloat32 }))
            Assert.Equal(ScalarType.Float32, new Bf16Projection().ProjAdapter.A.dtype);
    }
}
