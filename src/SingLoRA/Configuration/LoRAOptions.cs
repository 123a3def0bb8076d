namespace SingLoRA;

/// <summary>The hyper-parameters of one LoRA adapter (the baseline): <c>ΔW = s · B A</c>, <c>B</c> zero-initialised.</summary>
/// <param name="Rank">The rank <c>r</c>, at least 1.</param>
/// <param name="Alpha">The scaling numerator, finite and positive.</param>
/// <param name="Dropout">Dropout on the adapter path's input, in <c>[0, 1)</c>.</param>
/// <param name="Scaling">The scaling rule.</param>
/// <param name="Precision">The dtype of <c>A</c> and <c>B</c> relative to the base weight (float32 on a 16-bit base by default).</param>
public sealed record LoRAOptions(
    int Rank,
    double Alpha = SingLoRAOptions.DefaultAlpha,
    double Dropout = 0,
    ScalingRule Scaling = ScalingRule.AlphaOverRank,
    AdapterPrecision Precision = AdapterPrecision.AtLeastFloat32) : AdapterOptions(Rank, Alpha, Dropout, Scaling, Precision)
{
    /// <summary>Throws an <see cref="System.ArgumentException"/> naming the first invalid value and the valid range.</summary>
    public LoRAOptions Validate()
    {
        ValidateCommon();
        return this;
    }

    /// <inheritdoc />
    internal override void ValidateOptions() => Validate();
}
