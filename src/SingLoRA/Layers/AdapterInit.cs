namespace SingLoRA;

/// <summary>
/// How the single SingLoRA matrix <c>A</c> (shape <c>[n, r]</c>, <c>n = max(d_in, d_out)</c>) is initialised.
/// Whatever the choice, the ramp makes <c>u(0) = 0</c>, so the adapted layer starts equal to the frozen one.
/// </summary>
public enum AdapterInit
{
    /// <summary>
    /// Kaiming-uniform with the fan taken over the width <c>n</c>: entries drawn from <c>U(-1/sqrt(n), 1/sqrt(n))</c>.
    /// This is the scale the paper's width analysis (§4.2) asks for (entries of order <c>n^(-1/2)</c>), and the default.
    /// </summary>
    KaimingWidth = 0,

    /// <summary>
    /// What the community implementations do: <c>kaiming_uniform_</c> applied to the <c>[n, r]</c> tensor, whose fan is
    /// <c>r</c>, giving <c>U(-1/sqrt(r), 1/sqrt(r))</c>. The full-ramp update is then about <c>s/3 · I</c>: much larger.
    /// </summary>
    KaimingRank = 1,

    /// <summary>Gaussian with the width scale: entries drawn from <c>N(0, 1/n)</c>.</summary>
    Gaussian = 2,
}
