using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA;

/// <summary>
/// The modules a model trains and saves whole beside its adapters (PEFT's <c>modules_to_save</c>), as the config given to
/// <c>ApplySingLoRA</c> or <c>AddSingLoRA</c> named them: recorded on the model object it was given to, so that
/// <c>FreezeAllButAdapters</c> keeps them trainable, <c>SaveAdapters</c> saves them and <c>GetSingLoRAConfig</c> reports them.
/// </summary>
internal static class ModulesToSave
{
    private static readonly ConditionalWeakTable<nn.Module, IReadOnlyList<string>> s_recorded = new();

    /// <summary>What <paramref name="model"/> recorded (empty when no config named any).</summary>
    public static IReadOnlyList<string> Of(nn.Module model) => s_recorded.TryGetValue(model, out var paths) ? paths : Array.Empty<string>();

    /// <summary>Records <paramref name="paths"/> for <paramref name="model"/> (checked first with <see cref="Problems"/>).</summary>
    public static void Record(nn.Module model, IReadOnlyList<string> paths) => s_recorded.AddOrUpdate(model, paths.Distinct().ToList());

    /// <summary>
    /// What is wrong with <paramref name="paths"/> as modules to save of <paramref name="model"/> once the layers at
    /// <paramref name="adapted"/> are adapted: a path that names no module, or a module that is or holds an adapted layer
    /// (its adapter is saved as an adapter; saving the module whole as well would save it twice).
    /// </summary>
    public static IEnumerable<string> Problems(nn.Module model, IReadOnlyList<string> paths, IReadOnlyCollection<string> adapted)
    {
        if (paths.Count == 0) yield break;
        var modules = model.named_modules().Select(m => m.name).ToHashSet(StringComparer.Ordinal);
        foreach (var path in paths.Distinct())
        {
            if (!modules.Contains(path))
                yield return $"module to save '{path}' is not a module of the model (module paths look like 'classifier' or 'blocks.0.mlp')";
            else if (adapted.FirstOrDefault(a => a == path || a.StartsWith(path + ".", StringComparison.Ordinal)) is { } layer)
                yield return $"module to save '{path}' holds the adapted layer '{layer}'; its adapter is saved as an adapter, so name only modules without adapted layers";
        }
    }

    /// <summary>The parameters of the recorded modules of <paramref name="model"/>.</summary>
    public static IEnumerable<Parameter> Parameters(nn.Module model)
    {
        var recorded = Of(model);
        if (recorded.Count == 0) return Array.Empty<Parameter>();
        return model.named_modules().Where(m => recorded.Contains(m.name, StringComparer.Ordinal)).SelectMany(m => m.module.parameters());
    }
}
