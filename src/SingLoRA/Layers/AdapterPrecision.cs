namespace SingLoRA;

/// <summary>
/// The dtype an adapter keeps its trainable tensors in (SingLoRA's <c>A</c>, LoRA's <c>A</c> and <c>B</c>), relative to
/// the frozen base weight's dtype.
/// </summary>
/// <remarks>
/// With a bfloat16 base, an AdamW update of a bfloat16 <c>A</c> is rounded to 8 bits of mantissa: updates smaller than
/// about 1/256 of an entry are lost, so small learning rates and late training steps do nothing. Keeping <c>A</c> in
/// float32 (PEFT's default, <c>autocast_adapter_dtype=True</c>) keeps every update. The thin adapter products still run
/// in the base dtype (the float32 <c>A</c> is cast to it in each forward, a copy of <c>n·r</c> values), so the cost over
/// a bfloat16 adapter is that cast, not float32 arithmetic over the activations.
/// </remarks>
public enum AdapterPrecision
{
    /// <summary>
    /// The default: float32 adapter tensors on a 16-bit (bfloat16 or float16) base; on a float32 or float64 base, the
    /// base's dtype. Moving the model to another dtype (<c>model.to(bfloat16)</c>) re-applies the rule: <c>A</c> stays float32.
    /// </summary>
    AtLeastFloat32 = 0,

    /// <summary>The adapter tensors always have the base weight's dtype (bfloat16 on a bfloat16 base).</summary>
    SameAsBase = 1,
}
