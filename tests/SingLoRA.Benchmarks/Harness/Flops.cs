namespace SingLoRA.Benchmarks.Harness;

/// <summary>Multiply-add counts (×2 = FLOPs) of one training step per variant, for explaining the timings.</summary>
public static class Flops
{
    /// <summary>FLOPs of the matrix products of one step of <paramref name="variant"/> (elementwise work and AdamW excluded).</summary>
    public static double Step(Variant variant, LayerCase c)
    {
        double n = c.Rows, i = c.Shape.In, o = c.Shape.Out;
        double basis = 2 * n * i * o;                          // x W0ᵀ
        int r = LayerStep.EffectiveRankOf(variant, c.Shape, c.Rank);
        return variant switch
        {
            Variant.Base => basis,
            // forward (x A_in, h A_outᵀ) + backward (dA_out = dYᵀ h, dh = dY A_out, dA_in = xᵀ dh)
            Variant.SingLoRA or Variant.IdealSingLoRA => basis + 2 * n * r * (i + o) + 2 * n * r * (2 * o + i),
            // forward (x Aᵀ, h Bᵀ) + backward (dB = dYᵀ h, dh = dY B, dA = dhᵀ x)
            Variant.LoRAEqualRank or Variant.LoRAEqualParams => basis + 2 * n * r * (i + o) + 2 * n * r * (2 * o + i),
            // forward + dW = dYᵀ x
            Variant.FullFineTune => 2 * basis,
            // ΔW = A_out A_inᵀ, forward with W0 + sΔW, dW = dYᵀ x, dA_out = dW A_in, dA_in = dWᵀ A_out
            Variant.MaterialisingSingLoRA => 2 * basis + 3 * 2 * o * i * c.Rank,
            _ => basis,
        };
    }
}
