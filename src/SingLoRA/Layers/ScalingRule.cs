namespace SingLoRA;

/// <summary>How the adapter's update is scaled before it is added to the frozen layer.</summary>
public enum ScalingRule
{
    /// <summary><c>s = alpha / r</c>, the rule of the LoRA and SingLoRA papers.</summary>
    AlphaOverRank = 0,

    /// <summary><c>s = alpha / sqrt(r)</c>, the rank-stabilised rule (rsLoRA), which keeps the update's size steady as the rank grows.</summary>
    AlphaOverSqrtRank = 1,
}
