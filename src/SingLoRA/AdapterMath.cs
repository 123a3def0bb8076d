using System;

namespace SingLoRA;

/// <summary>Rules shared by every adapter kind: the scale and the validation of the common options.</summary>
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

    internal static void ValidateCommon(int rank, double alpha, double dropout, ScalingRule scaling, AdapterPrecision precision)
    {
        if (rank < 1)
            throw new ArgumentOutOfRangeException("Rank", rank, $"Rank must be at least 1, but was {rank}. Typical ranks are 4 to 64.");
        if (!double.IsFinite(alpha) || alpha <= 0)
            throw new ArgumentOutOfRangeException("Alpha", alpha, $"Alpha must be a finite positive number, but was {alpha}. A common choice is 16 or twice the rank.");
        if (!(dropout >= 0 && dropout < 1))
            throw new ArgumentOutOfRangeException("Dropout", dropout, $"Dropout must be in [0, 1), but was {dropout}. Use 0 to turn dropout off.");
        if (!Enum.IsDefined(scaling))
            throw new ArgumentOutOfRangeException("Scaling", scaling, $"Scaling must be one of {string.Join(", ", Enum.GetNames<ScalingRule>())}, but was {(int)scaling}.");
        if (!Enum.IsDefined(precision))
            throw new ArgumentOutOfRangeException("Precision", precision, $"Precision must be one of {string.Join(", ", Enum.GetNames<AdapterPrecision>())}, but was {(int)precision}.");
    }
}
