using System;

namespace SingLoRA;

/// <summary>
/// Marks a <c>partial</c> TorchSharp module whose named <c>Linear</c> layers are adapted with SingLoRA.
/// At build time the SingLoRA.Gen source generator wraps each target in a <see cref="SingLoRALinear"/> when the
/// module calls <c>RegisterComponents()</c>, and adds typed adapter properties and the per-class part of
/// <see cref="ISingLoRAModule"/> (options and adapters; the ramp schedule, merge and unmerge and freezing are the
/// interface's default members) to the class.
/// </summary>
/// <example>
/// <code>
/// [SingLoRA(Rank = 8, Targets = "q,k")]
/// public partial class SelfAttention : Module&lt;Tensor, Tensor&gt; { ... }
/// </code>
/// </example>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class SingLoRAAttribute : Attribute
{
    /// <summary>The adapter rank <c>r</c> (required, at least 1, at most <c>min(d_in, d_out)</c> of every target).</summary>
    public int Rank { get; set; }

    /// <summary>Comma-separated names of the fields to adapt, for example <c>"q,k"</c>. Each must be a <c>Linear</c> or <c>Module&lt;Tensor, Tensor&gt;</c> field of the class.</summary>
    public string Targets { get; set; } = "";

    /// <summary>The scaling numerator <c>alpha</c>; the update is scaled by <c>alpha / r</c> (or <c>alpha / sqrt(r)</c>). Default 16.</summary>
    public double Alpha { get; set; } = SingLoRAOptions.DefaultAlpha;

    /// <summary>The ramp length <c>T</c> in optimizer steps: <c>u(t) = min(t / T, 1)</c>; 0 means no ramp (<c>u = 1</c>). Default 100.</summary>
    public long RampLength { get; set; } = SingLoRAOptions.DefaultRampLength;

    /// <summary>Dropout probability applied to the input of the adapter path only, in <c>[0, 1)</c>. Default 0.</summary>
    public double Dropout { get; set; }

    /// <summary>The scaling rule. Default <see cref="ScalingRule.AlphaOverRank"/>.</summary>
    public ScalingRule Scaling { get; set; } = ScalingRule.AlphaOverRank;

    /// <summary>The initialisation of <c>A</c>. Default <see cref="AdapterInit.KaimingWidth"/>.</summary>
    public AdapterInit Init { get; set; } = AdapterInit.KaimingWidth;

    /// <summary>The dtype of <c>A</c> relative to the base weight. Default <see cref="AdapterPrecision.AtLeastFloat32"/> (float32 on a 16-bit base).</summary>
    public AdapterPrecision Precision { get; set; } = AdapterPrecision.AtLeastFloat32;

    /// <summary>
    /// The name of the class's <c>int</c> field or property that holds the module's position in its stack (Hugging Face's
    /// <c>layer_idx</c>), for example <c>nameof(layer_idx)</c>. It must be set before <c>RegisterComponents()</c> runs.
    /// <see cref="Layers"/> and a <see cref="SingLoRAOverrides.Layers(int[])"/> scope choose layers by this index.
    /// </summary>
    public string? LayerIndex { get; set; }

    /// <summary>
    /// The layer indices to adapt (PEFT's <c>layers_to_transform</c>): comma-separated indices and inclusive ranges, for
    /// example <c>"0-3, 8"</c>. A module whose <see cref="LayerIndex"/> member holds another value is built without
    /// adapters: its targets stay plain layers with no adapter keys. Requires <see cref="LayerIndex"/>. Default: every layer.
    /// A <see cref="SingLoRAOverrides.Layers(int[])"/> scope replaces it at run time.
    /// </summary>
    public string? Layers { get; set; }
}
