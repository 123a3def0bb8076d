using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;

namespace SingLoRA;

/// <summary>
/// LoRA+ (Hayou et al., 2024): LoRA whose <c>B</c> matrices learn <c>ratio</c> times faster than the <c>A</c> matrices.
/// This helper builds the AdamW parameter groups for a model with <see cref="LoRALinear"/> layers.
/// </summary>
public static class LoRAPlus
{
    /// <summary>The usual learning-rate ratio λ between <c>B</c> and <c>A</c>.</summary>
    public const double DefaultRatio = 16;

    /// <summary>
    /// Two AdamW parameter groups: every trainable parameter except the LoRA <c>B</c> matrices at <paramref name="lr"/>,
    /// and the <c>B</c> matrices at <c>ratio · lr</c>.
    /// </summary>
    public static IReadOnlyList<AdamW.ParamGroup> ParameterGroups(torch.nn.Module model, double lr, double ratio = DefaultRatio, double weightDecay = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!(lr > 0) || !double.IsFinite(lr)) throw new ArgumentOutOfRangeException(nameof(lr), lr, "The learning rate must be a finite positive number.");
        if (!(ratio > 0) || !double.IsFinite(ratio)) throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "The LoRA+ ratio must be a finite positive number (16 is usual).");
        var bs = model.GetAdaptedLayers().Select(l => l.Layer).OfType<LoRALinear>().Select(l => l.B).ToList();
        if (bs.Count == 0) throw new InvalidOperationException("The model has no LoRALinear layers; LoRA+ needs LoRA's B matrices.");
        var bHandles = bs.Select(b => b.Handle).ToHashSet();
        var others = model.parameters().Where(p => p.requires_grad && !bHandles.Contains(p.Handle)).ToList();
        return new[]
        {
            new AdamW.ParamGroup(others, lr: lr, weight_decay: weightDecay),
            new AdamW.ParamGroup(bs, lr: lr * ratio, weight_decay: weightDecay),
        };
    }

    /// <summary>An AdamW optimizer over <see cref="ParameterGroups"/>.</summary>
    public static AdamW AdamW(torch.nn.Module model, double lr, double ratio = DefaultRatio, double weightDecay = 0) =>
        torch.optim.AdamW(ParameterGroups(model, lr, ratio, weightDecay), lr: lr, weight_decay: weightDecay);
}
