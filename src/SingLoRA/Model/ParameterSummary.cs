using System;
using System.Globalization;
using System.Linq;
using TorchSharp;

namespace SingLoRA;

/// <summary>Trainable and total parameter counts of a module.</summary>
/// <param name="Trainable">Values in parameters that require gradients.</param>
/// <param name="Total">Values in all parameters.</param>
public readonly record struct ParameterSummary(long Trainable, long Total)
{
    /// <summary>Trainable as a percentage of total (0 for an empty module).</summary>
    public double Percent => Total == 0 ? 0 : 100.0 * Trainable / Total;

    /// <summary>Counts the parameters of <paramref name="module"/> (each tensor once, even if shared).</summary>
    public static ParameterSummary Of(torch.nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        var unique = module.parameters().DistinctBy(p => p.Handle).ToList();
        return new ParameterSummary(unique.Where(p => p.requires_grad).Sum(p => p.numel()), unique.Sum(p => p.numel()));
    }

    /// <summary>For example <c>trainable params: 8,192 || all params: 1,058,816 || trainable%: 0.7737</c>.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"trainable params: {Trainable:N0} || all params: {Total:N0} || trainable%: {Percent:0.0000}");
}
