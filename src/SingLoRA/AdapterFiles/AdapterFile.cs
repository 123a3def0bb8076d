using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using TorchSharp;
using static TorchSharp.torch;

namespace SingLoRA.AdapterFiles;

/// <summary>
/// Adapter files: save and load a model's adapters alone (safetensors plus a PEFT-like <c>adapter_config.json</c>), and
/// export a merged model as a plain state dict. The format is documented in <c>docs/adapter-format.md</c>.
/// </summary>
/// <remarks>
/// <para>The class is split by job: <c>AdapterFile.Save.cs</c>, <c>AdapterFile.Load.cs</c> (reading, validation, the
/// all-or-nothing load) and <c>AdapterFile.MergedExport.cs</c>; this file holds what they share.</para>
/// <para>Tensor names are the model's state-dict keys: <c>blocks.0.attn.q.singlora_A</c> and
/// <c>blocks.0.attn.q.singlora_step</c> for SingLoRA layers, <c>....lora_A</c> / <c>....lora_B</c> for LoRA layers.</para>
/// <para>Loading is strict and all-or-nothing: every problem (missing, unexpected, wrongly shaped or typed tensors,
/// options that disagree with the model's adapters, merged layers, a corrupt file) is collected into one
/// <see cref="AdapterLoadException"/>, and the model is changed only when there is none; if restoring a merge fails
/// midway, everything already changed is put back exactly.</para>
/// </remarks>
public static partial class AdapterFile
{
    /// <summary>The tensors file's name inside an adapter folder.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>The config file's name inside an adapter folder.</summary>
    public const string ConfigFileName = "adapter_config.json";

    /// <summary>The library version written into configs.</summary>
    public static string LibraryVersion { get; } = ReadLibraryVersion();

    // ---------------------------------------------------------------------------------------------------- helpers

    /// <summary>The adapter the layers have active.</summary>
    private static string ActiveSlot(IReadOnlyList<(string Path, AdaptedLinear Layer)> layers)
    {
        var names = layers.Select(l => l.Layer.ActiveAdapter).Distinct().ToList();
        if (names.Count > 1)
            throw new InvalidOperationException($"The layers' active adapters disagree ({string.Join(", ", names)}): pass adapterName, or align them with model.SetActiveAdapter(name).");
        return names[0];
    }

    private static void CheckSlotExists(IReadOnlyList<(string Path, AdaptedLinear Layer)> layers, string slot)
    {
        var lacking = layers.Where(l => !l.Layer.AdapterNames.Contains(slot)).Select(l => $"{Display(l.Path)} (has {string.Join(", ", l.Layer.AdapterNames.Select(n => $"'{n}'"))})").ToList();
        if (lacking.Count > 0)
            throw new InvalidOperationException($"No adapter named '{slot}' in {string.Join(", ", lacking)}.");
    }

    /// <summary>The parameters and persistent buffers of each module to save, under their model keys.</summary>
    private static List<(string Key, Tensor Tensor)> ModuleTensors(nn.Module model, IReadOnlyList<(string Path, AdaptedLinear Layer)> layers, IReadOnlyList<string> paths)
    {
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        var problems = new List<string>();
        var result = new List<(string, Tensor)>();
        foreach (var path in paths.Distinct())
        {
            if (!modules.TryGetValue(path, out var module))
            {
                problems.Add($"'{path}' is not a module of the model (module paths look like 'head' or 'blocks.0.mlp')");
                continue;
            }
            if (layers.Any(l => l.Path == path || l.Path.StartsWith(path + ".", StringComparison.Ordinal)))
            {
                problems.Add($"'{path}' holds adapted layers; save their adapters as adapters and name only the other modules");
                continue;
            }
            foreach (var (name, p) in module.named_parameters()) result.Add((Key(path, name), p));
            foreach (var (name, b) in module.named_buffers(include_nonpersistent: false)) result.Add((Key(path, name), b));
        }
        if (problems.Count > 0) throw new InvalidOperationException($"Cannot save modulesToSave: {string.Join("; ", problems)}. Nothing was written.");
        return result;
    }

    private static string ModuleOf(string key) => key.LastIndexOf('.') is var i and > 0 ? key[..i] : key;

    private static T? Shared<T>(IReadOnlyList<AdapterTarget> targets, Func<AdapterTarget, T?> value) where T : struct
    {
        if (targets.Count == 0) return null;
        var first = value(targets[0]);
        return targets.All(t => EqualityComparer<T?>.Default.Equals(value(t), first)) ? first : null;
    }

    internal static string Key(string path, string key) => path.Length == 0 ? key : path + "." + key;

    private static string Display(string path) => path.Length == 0 ? "'' (the root module)" : $"'{path}'";

    private static string Shape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";

    private static string Format<T>(T value) => value switch
    {
        null => "(absent)",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string ReadLibraryVersion()
    {
        var assembly = typeof(AdapterFile).Assembly;
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (!string.IsNullOrEmpty(informational))
        {
            int plus = informational.IndexOf('+');
            return plus >= 0 ? informational[..plus] : informational;
        }
        return assembly.GetName().Version?.ToString(3) ?? "0.0.0";
    }
}

/// <summary>An adapter file could not be loaded; <see cref="Problems"/> lists every reason. The model was not changed.</summary>
public sealed class AdapterLoadException : Exception
{
    /// <summary>Creates the exception for the adapter folder <paramref name="directory"/>.</summary>
    public AdapterLoadException(string directory, IReadOnlyList<string> problems, Exception? inner = null)
        : base(BuildMessage(directory, problems), inner)
    {
        Directory = directory;
        Problems = problems;
    }

    /// <summary>The adapter folder.</summary>
    public string Directory { get; }

    /// <summary>Every problem found, one sentence each.</summary>
    public IReadOnlyList<string> Problems { get; }

    private static string BuildMessage(string directory, IReadOnlyList<string> problems) =>
        $"Cannot load the adapters in '{directory}' ({problems.Count} problem{(problems.Count == 1 ? "" : "s")}; the model was not changed):"
        + string.Concat(problems.Select(p => Environment.NewLine + " - " + p));
}
