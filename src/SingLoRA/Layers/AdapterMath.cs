using System;

namespace SingLoRA;

/// <summary>Rules shared by every adapter kind: the scale and the adapter dtype (the common options are validated by <see cref="AdapterOptions"/>).</summary>
internal static class AdapterMath
{
    internal static double Scale(double alpha, int rank, ScalingRule rule) => rule switch
    {
        ScalingRule.AlphaOverSqrtRank => alpha / Math.Sqrt(rank),
        _ => alpha / rank,
    };

    /// <summary>The dtype of an adapter's trainable tensors on a base weight of dtype <paramref name="baseType"/>.</summary>
    internal static TorchSharp.torch.ScalarType AdapterDType(TorchSharp.torch.ScalarType baseType, AdapterPrecision precision) =>
        precision == AdapterPrecision.AtLeastFloat32 && baseType is TorchSharp.torch.ScalarType.BFloat16 or TorchSharp.torch.ScalarType.Float16
            ? TorchSharp.torch.ScalarType.Float32
            : baseType;
}
