using System;

namespace SingLoRA;

/// <summary>
/// What every adapter kind's options have: the rank, the scale and its rule, the adapter-path dropout and the dtype rule.
/// <see cref="SingLoRAOptions"/> adds the ramp and the initialisation; <see cref="LoRAOptions"/> adds nothing.
/// </summary>
/// <param name="Rank">The rank <c>r</c>, at least 1 and at most <c>min(d_in, d_out)</c> of the layer.</param>
/// <param name="Alpha">The scaling numerator, finite and positive.</param>
/// <param name="Dropout">Dropout on the adapter path's input, in <c>[0, 1)</c>.</param>
/// <param name="Scaling">The scaling rule.</param>
/// <param name="Precision">The dtype of the adapter's trainable tensors relative to the base weight.</param>
public abstract record AdapterOptions(int Rank, double Alpha, double Dropout, ScalingRule Scaling, AdapterPrecision Precision)
{
    /// <summary>The scale <c>s</c>: <c>alpha / r</c> or <c>alpha / sqrt(r)</c>.</summary>
    public double Scale => AdapterMath.Scale(Alpha, Rank, Scaling);

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid value (the kind's own <c>Validate</c>).</summary>
    internal abstract void ValidateOptions();

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid common value and the valid range.</summary>
    private protected void ValidateCommon()
    {
        if (Rank < 1)
            throw new ArgumentOutOfRangeException(nameof(Rank), Rank, $"Rank must be at least 1, but was {Rank}. Typical ranks are 4 to 64.");
        if (!double.IsFinite(Alpha) || Alpha <= 0)
            throw new ArgumentOutOfRangeException(nameof(Alpha), Alpha, $"Alpha must be a finite positive number, but was {Alpha}. A common choice is 16 or twice the rank.");
        if (!(Dropout >= 0 && Dropout < 1))
            throw new ArgumentOutOfRangeException(nameof(Dropout), Dropout, $"Dropout must be in [0, 1), but was {Dropout}. Use 0 to turn dropout off.");
        if (!Enum.IsDefined(Scaling))
            throw new ArgumentOutOfRangeException(nameof(Scaling), Scaling, $"Scaling must be one of {string.Join(", ", Enum.GetNames<ScalingRule>())}, but was {(int)Scaling}.");
        if (!Enum.IsDefined(Precision))
            throw new ArgumentOutOfRangeException(nameof(Precision), Precision, $"Precision must be one of {string.Join(", ", Enum.GetNames<AdapterPrecision>())}, but was {(int)Precision}.");
    }
}
