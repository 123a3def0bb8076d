using System;
using System.Collections.Generic;
using System.Linq;

namespace SingLoRA;

/// <summary>
/// One description of a SingLoRA adaptation, PEFT's <c>LoraConfig</c>: which layers (targets, and which layers of a stack),
/// with which options, and which other modules train beside the adapters. Every way in resolves to it, and a model reports
/// it back:
/// <list type="bullet">
/// <item>the <c>[SingLoRA]</c> attribute is one, fixed at build time (<c>Targets</c> are its fields, <c>Layers</c> its layers);</item>
/// <item><see cref="SingLoRAModuleExtensions.ApplySingLoRA"/> gives annotated modules another one explicitly, after construction
/// (no ambient state: the run-time way to take the rank or the ramp from a command line or a sweep);</item>
/// <item><see cref="RuntimeInjection.AddSingLoRA(TorchSharp.torch.nn.Module, SingLoRAConfig, bool)"/> applies one to a model
/// you do not own, by module path;</item>
/// <item><see cref="SingLoRAModuleExtensions.GetSingLoRAConfig"/> reads it back from a model, and
/// <see cref="AdapterFiles.AdapterConfig.ToSingLoRAConfig"/> from an adapter folder's <c>adapter_config.json</c>.</item>
/// </list>
/// <see cref="SingLoRAOverrides"/> scopes remain a convenience for code that builds models it cannot configure afterwards.
/// </summary>
/// <param name="Options">The adapter options (rank, alpha, ramp, dropout, scaling, init, precision).</param>
public sealed record SingLoRAConfig(SingLoRAOptions Options)
{
    /// <summary>
    /// The layers to adapt, PEFT's <c>target_modules</c>: module-path patterns that match a path equal to them or ending with
    /// <c>"." + pattern</c>, <c>*</c> standing for any characters within a segment. A field name (<c>"q_proj"</c>) matches that
    /// field everywhere, a path (<c>"layers.3.attn.q_proj"</c>) one layer, <c>"layers.*.q_proj"</c> a wildcard. For annotated
    /// modules they choose among the attribute's targets (empty: all of them), so the paths <c>GetSingLoRAConfig</c> reports
    /// apply again; for <c>AddSingLoRA</c> they choose among the model's <c>Linear</c> layers.
    /// </summary>
    public IReadOnlyList<string> Targets { get; init; } = Array.Empty<string>();

    /// <summary>
    /// The layer indices to adapt, PEFT's <c>layers_to_transform</c>, written as the attribute's <c>Layers</c> (<c>"0-3, 8"</c>);
    /// null: every layer for <c>AddSingLoRA</c>, the attribute's own <c>Layers</c> for <c>ApplySingLoRA</c>. An annotated module is placed by its <c>LayerIndex</c> member; a module path by its first
    /// numeric segment (<c>layers.3.attn.q_proj</c> is layer 3).
    /// </summary>
    public string? Layers { get; init; }

    /// <summary>
    /// Paths of modules trained and saved whole beside the adapters (PEFT's <c>modules_to_save</c>, e.g. a classification
    /// head). <c>ApplySingLoRA</c> and <c>AddSingLoRA</c> check them (each must be a module of the model without adapted
    /// layers) and record them on the model: <c>FreezeAllButAdapters</c> keeps them trainable, <c>SaveAdapters</c> saves them
    /// and <c>GetSingLoRAConfig</c> reports them.
    /// </summary>
    public IReadOnlyList<string> ModulesToSave { get; init; } = Array.Empty<string>();

    /// <summary>Throws an <see cref="ArgumentException"/> that names the first invalid value and says how to fix it.</summary>
    public SingLoRAConfig Validate()
    {
        ArgumentNullException.ThrowIfNull(Options, nameof(Options));
        Options.Validate();
        ArgumentNullException.ThrowIfNull(Targets, nameof(Targets));
        ArgumentNullException.ThrowIfNull(ModulesToSave, nameof(ModulesToSave));
        if (Targets.Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException("Targets holds an empty name; name each layer to adapt (\"q_proj\"), or leave Targets empty for the attribute's targets.", nameof(Targets));
        if (ModulesToSave.Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException("ModulesToSave holds an empty path; name each module by its path (\"classifier\").", nameof(ModulesToSave));
        _ = ChoosesLayer;
        return this;
    }

    /// <summary>The test of a layer index that <see cref="Layers"/> describes (every index when it is null).</summary>
    internal Func<int, bool> ChoosesLayer => Layers is null ? _ => true : ParseLayers(Layers, nameof(Layers));

    /// <summary>
    /// The test of a layer index for <paramref name="layers"/> written as the attribute's <c>Layers</c> (<c>"0-3, 8"</c>),
    /// read by <c>common/LayerList.cs</c> as the generator and the analyzers read it.
    /// </summary>
    /// <exception cref="ArgumentException">The text is not such a list (the message says what is wrong).</exception>
    internal static Func<int, bool> ParseLayers(string layers, string parameterName)
    {
        var parsed = Common.LayerList.Parse(layers);
        if (parsed.Error is not null)
            throw new ArgumentException($"Layers \"{layers}\" {parsed.Error}.", parameterName);
        var ranges = parsed.Ranges;
        return i => ranges.Any(r => i >= r.First && i <= r.Last);
    }

    /// <summary>The layer index of a module path: its first numeric segment (<c>blocks.3.attn.q</c> is 3), or null.</summary>
    internal static int? LayerOfPath(string path)
    {
        foreach (var segment in path.Split('.'))
            if (segment.Length > 0 && segment.All(char.IsAsciiDigit) && int.TryParse(segment, out int index)) return index;
        return null;
    }

    /// <inheritdoc />
    public bool Equals(SingLoRAConfig? other) =>
        other is not null && Options == other.Options && Layers == other.Layers
        && Targets.SequenceEqual(other.Targets) && ModulesToSave.SequenceEqual(other.ModulesToSave);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Options, Layers, Targets.Count, ModulesToSave.Count);
}
