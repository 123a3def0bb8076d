using System;

namespace SingLoRA;

/// <summary>The hyper-parameters of one SingLoRA adapter. <see cref="Validate"/> says what is wrong and how to fix it.</summary>
/// <param name="Rank">The rank <c>r</c>, at least 1.</param>
/// <param name="Alpha">The scaling numerator, finite and positive.</param>
/// <param name="RampLength">The ramp length <c>T</c> in optimizer steps; 0 disables the ramp.</param>
/// <param name="Dropout">Dropout on the adapter path's input, in <c>[0, 1)</c>.</param>
/// <param name="Scaling">The scaling rule.</param>
/// <param name="Init">The initialisation of <c>A</c>.</param>
/// <param name="Precision">The dtype of <c>A</c> relative to the base weight (float32 on a 16-bit base by default).</param>
public sealed record SingLoRAOptions(
    int Rank,
    double Alpha = SingLoRAOptions.DefaultAlpha,
    long RampLength = SingLoRAOptions.DefaultRampLength,
    double Dropout = 0,
    ScalingRule Scaling = ScalingRule.AlphaOverRank,
    AdapterInit Init = AdapterInit.KaimingWidth,
    AdapterPrecision Precision = AdapterPrecision.AtLeastFloat32) : AdapterOptions(Rank, Alpha, Dropout, Scaling, Precision)
{
    /// <summary>The default <see cref="AdapterOptions.Alpha"/>.</summary>
    public const double DefaultAlpha = 16;

    /// <summary>The default <see cref="RampLength"/>.</summary>
    public const long DefaultRampLength = 100;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid value and the valid range.</summary>
    public SingLoRAOptions Validate()
    {
        ValidateCommon();
        if (RampLength < 0)
            throw new ArgumentOutOfRangeException(nameof(RampLength), RampLength, $"RampLength must be 0 (no ramp) or a positive number of optimizer steps, but was {RampLength}.");
        if (!Enum.IsDefined(Init))
            throw new ArgumentOutOfRangeException(nameof(Init), Init, $"Init must be one of {string.Join(", ", Enum.GetNames<AdapterInit>())}, but was {(int)Init}.");
        return this;
    }

    /// <inheritdoc />
    internal override void ValidateOptions() => Validate();
}
