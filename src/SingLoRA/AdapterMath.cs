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

    internal static void ValidateCommon(int rank, double alpha, double dropout, ScalingRule scaling)
    {
        if (rank < 1)
            throw new ArgumentOutOfRangeException("Rank", rank, $"Rank must be at least 1, but was {rank}. Typical ranks are 4 to 64.");
        if (!double.IsFinite(alpha) || alpha <= 0)
            throw new ArgumentOutOfRangeException("Alpha", alpha, $"Alpha must be a finite positive number, but was {alpha}. A common choice is 16 or twice the rank.");
        if (!(dropout >= 0 && dropout < 1))
            throw new ArgumentOutOfRangeException("Dropout", dropout, $"Dropout must be in [0, 1), but was {dropout}. Use 0 to turn dropout off.");
        if (!Enum.IsDefined(scaling))
            throw new ArgumentOutOfRangeException("Scaling", scaling, $"Scaling must be one of {string.Join(", ", Enum.GetNames<ScalingRule>())}, but was {(int)scaling}.");
    }
}
