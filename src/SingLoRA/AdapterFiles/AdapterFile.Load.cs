using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace SingLoRA.AdapterFiles;

// Reading an adapter folder: the config, validation against the model (all problems at once), and the all-or-nothing load.
public static partial class AdapterFile
{
    /// <summary>Reads and validates <c>directory/adapter_config.json</c> without touching any model.</summary>
    /// <exception cref="AdapterLoadException">The file is missing or not a valid SingLoRA adapter config.</exception>
    public static AdapterConfig ReadConfig(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        string path = Path.Combine(directory, ConfigFileName);
        if (!File.Exists(path))
            throw new AdapterLoadException(directory, new[] { $"{ConfigFileName} not found in '{directory}'." });
        AdapterConfig? config;
        try
        {
            using var stream = File.OpenRead(path);
            config = JsonSerializer.Deserialize<AdapterConfig>(stream, AdapterConfig.JsonOptions);
        }
        catch (JsonException ex)
        {
            throw new AdapterLoadException(directory, new[] { $"{ConfigFileName} is not a valid adapter config: {ex.Message}" }, ex);
        }
        var problems = new List<string>();
        if (config is null) problems.Add($"{ConfigFileName} is empty (null).");
        else
        {
            if (config.Format != AdapterConfig.FormatName)
                problems.Add($"{ConfigFileName} has format '{config.Format}', expected '{AdapterConfig.FormatName}'.");
            if (config.FormatVersion != AdapterConfig.CurrentFormatVersion)
                problems.Add($"{ConfigFileName} has format_version {config.FormatVersion}; this library reads version {AdapterConfig.CurrentFormatVersion}." +
                    (config.FormatVersion == 1 ? " Version 1 (SingLoRA.Gen 0.1) named the ramp length ramp_steps: rename every \"ramp_steps\" key to \"ramp_length\" and set \"format_version\": 2, or save the adapters again with this version." : ""));
            if (config.Targets is null || config.Targets.Any(t => t is null || t.Path is null || t.Tensors is null))
                problems.Add($"{ConfigFileName} has a missing or incomplete 'targets' list.");
        }
        if (problems.Count > 0) throw new AdapterLoadException(directory, problems);
        return config!;
    }

    /// <summary>
    /// Loads adapters saved by <see cref="SaveAdapters"/> into a model with the same adapted layers and options. Restores
    /// <c>A</c>, the ramp step, the merge state and the saved modules (<c>modules_to_save</c>). Validates everything first;
    /// on any problem throws one <see cref="AdapterLoadException"/> naming all of them, and the model is left exactly as it was.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="directory">The adapter folder.</param>
    /// <param name="adapterName">The adapter to load into; null loads into the active one. A name the model's adapted layers
    /// (SingLoRA and LoRA) do not have yet is added to every layer with the file's options (not activated), PEFT's <c>load_adapter</c>.</param>
    /// <param name="convert">False (the default): a tensor whose dtype differs from the model's is an error, because a
    /// conversion can round (a float64 file into float32) and should be asked for. True: tensors are converted to the
    /// model's dtypes (the config's base dtype is then not required to match either).</param>
    /// <returns>The config that was loaded.</returns>
    public static AdapterConfig LoadAdapters(this nn.Module model, string directory, string? adapterName = null, bool convert = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (adapterName is not null) SingLoRALinear.ValidateName(adapterName);
        var config = ReadConfig(directory);
        string weightsPath = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(weightsPath))
            throw new AdapterLoadException(directory, new[] { $"{WeightsFileName} not found in '{directory}'." });

        string sha;
        using (var stream = File.OpenRead(weightsPath)) sha = Convert.ToHexStringLower(SHA256.HashData(stream));
        if (!string.Equals(sha, config.WeightsSha256, StringComparison.OrdinalIgnoreCase))
            throw new AdapterLoadException(directory, new[]
            {
                $"{WeightsFileName} does not match {ConfigFileName} (SHA-256 {sha}, the config expects '{config.WeightsSha256}'): " +
                "the files come from different saves, a save was interrupted between the two files, or the tensors file was modified.",
            });

        SafeTensorsFile file;
        try
        {
            file = SafeTensors.Load(weightsPath);
        }
        catch (SafeTensorsFormatException ex)
        {
            throw new AdapterLoadException(directory, new[] { ex.Message }, ex);
        }

        using (file)
        {
            var layers = model.GetAdaptedLayers();
            if (layers.Count == 0) throw new AdapterLoadException(directory, new[] { "The model has no adapted layers to load into." });
            string slot;
            try
            {
                slot = adapterName ?? ActiveSlot(layers);
            }
            catch (InvalidOperationException ex)
            {
                throw new AdapterLoadException(directory, new[] { ex.Message }, ex);
            }
            var added = AddMissingSlot(layers, config, slot, directory);
            try
            {
                var problems = Validate(model, layers, config, file, slot, convert);
                if (problems.Count > 0) throw new AdapterLoadException(directory, problems);
                Apply(model, layers, config, file, directory, slot);
            }
            catch
            {
                foreach (var layer in added) layer.DeleteAdapter(slot);   // the model is left exactly as it was
                throw;
            }
        }
        return config;
    }

    /// <summary>Adds <paramref name="slot"/>, with each target's options, to the layers that lack it; returns them.</summary>
    private static List<AdaptedLinear> AddMissingSlot(IReadOnlyList<(string Path, AdaptedLinear Layer)> layers, AdapterConfig config, string slot, string directory)
    {
        var added = new List<AdaptedLinear>();
        var targets = config.Targets.GroupBy(t => t.Path).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var (path, layer) in layers)
        {
            if (layer.AdapterNames.Contains(slot)) continue;
            if (!targets.TryGetValue(path, out var t) || t.Kind != layer.Kind) continue;   // Validate names the mismatch
            try
            {
                layer.AddAdapterFrom(slot, t);
                added.Add(layer);
            }
            catch (ArgumentException ex)
            {
                problems.Add($"Target {Display(path)}: cannot add adapter '{slot}' with the file's options: {ex.Message}");
            }
        }
        if (problems.Count > 0)
        {
            foreach (var layer in added) layer.DeleteAdapter(slot);
            throw new AdapterLoadException(directory, problems);
        }
        return added;
    }

    private static List<string> Validate(nn.Module model, IReadOnlyList<(string Path, AdaptedLinear Layer)> layers, AdapterConfig config, SafeTensorsFile file, string slot, bool convert)
    {
        var problems = new List<string>();
        var byPath = new Dictionary<string, AdaptedLinear>(StringComparer.Ordinal);
        foreach (var (path, layer) in layers) byPath[path] = layer;
        var targets = new Dictionary<string, AdapterTarget>(StringComparer.Ordinal);
        foreach (var t in config.Targets)
            if (!targets.TryAdd(t.Path, t)) problems.Add($"The config lists target {Display(t.Path)} twice.");

        foreach (var (path, layer) in layers)
        {
            if (layer.IsMerged)
                problems.Add($"Layer {Display(path)} of the model is merged; call UnmergeAdapters() before loading adapters.");
            if (!targets.ContainsKey(path))
                problems.Add($"Missing target: the model adapts {Display(path)} ({layer.Kind}) but the config has no such target.");
            else if (!layer.AdapterNames.Contains(slot))
                problems.Add($"Layer {Display(path)} has no adapter '{slot}' to load into (it has {string.Join(", ", layer.AdapterNames.Select(n => $"'{n}'"))}).");
            if (targets.TryGetValue(path, out var merged) && merged.Merged && layer.AdapterNames.Contains(slot) && layer.ActiveAdapter != slot)
                problems.Add($"Target {Display(path)} was saved merged, so it can only be loaded into the active adapter ('{layer.ActiveAdapter}', not '{slot}').");
        }
        foreach (var t in config.Targets.Where(t => !byPath.ContainsKey(t.Path)))
            problems.Add($"Unexpected target: the config has {Display(t.Path)} ({t.Kind}) but the model has no adapted layer there.");
        int missing = layers.Count(l => !targets.ContainsKey(l.Path));
        if (missing > 0 && config.Targets.All(t => byPath.ContainsKey(t.Path)))
            problems.Add($"The file adapts {missing} layer(s) fewer than the model. If the model that saved it had layers left out (the attribute's Layers, a " +
                "SingLoRAOverrides.Layers scope, or UnloadAdapters), build this one the same way, or take the extra adapters out before loading: " +
                "model.UnloadAdapters(path => !targets.Contains(path)) with the config's target_modules as targets.");
        // The checks below look at the slot's tensors and options; a layer without the slot was reported above.
        var withSlot = layers.Where(l => l.Layer.AdapterNames.Contains(slot)).ToList();

        // Tensors: every key the model's adapters (and the saved modules) have must be in the file, with the same shape and dtype.
        var expected = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (path, layer) in withSlot)
            foreach (var (key, tensor) in layer.FileTensors(slot)) expected[Key(path, key)] = tensor;
        try
        {
            foreach (var (key, tensor) in ModuleTensors(model, layers, config.ModulesToSave ?? Array.Empty<string>())) expected[key] = tensor;
        }
        catch (InvalidOperationException ex)
        {
            problems.Add($"The config's modules_to_save do not fit the model: {ex.Message}");
        }
        foreach (var (key, tensor) in expected)
        {
            if (!file.Tensors.TryGetValue(key, out var loaded))
            {
                problems.Add($"Missing tensor '{key}' (shape {Shape(tensor.shape)}, {SafeTensors.DTypeName(tensor.dtype)}).");
                continue;
            }
            if (!loaded.shape.SequenceEqual(tensor.shape))
                problems.Add($"Tensor '{key}' has shape {Shape(loaded.shape)} in the file but {Shape(tensor.shape)} in the model.");
            if (loaded.dtype != tensor.dtype && !(convert && is_floating_point(loaded) && is_floating_point(tensor)))
                problems.Add($"Tensor '{key}' has dtype {SafeTensors.DTypeName(loaded.dtype)} in the file but {SafeTensors.DTypeName(tensor.dtype)} in the model " +
                             (is_floating_point(loaded) && is_floating_point(tensor)
                                 ? "(dtypes are not converted silently: pass convert: true to convert, or convert the model)."
                                 : "(only floating-point tensors can be converted)."));
        }
        foreach (var key in file.Names.Where(k => !expected.ContainsKey(k)))
            problems.Add($"Unexpected tensor '{key}' (shape {Shape(file.Tensors[key].shape)}): the model has no such adapter tensor or saved module.");

        // Options: each matched target must agree with how the layer describes its adapter (every kind describes itself alike).
        var described = withSlot.Select(l => l.Layer.Describe(l.Path, slot)).ToList();
        for (int i = 0; i < withSlot.Count; i++)
        {
            var (path, layer) = withSlot[i];
            var m = described[i];
            if (!targets.TryGetValue(path, out var t)) continue;
            var where = $"Target {Display(path)}";
            void Check<T>(string name, T? inFile, T? inModel)
            {
                if (!EqualityComparer<T?>.Default.Equals(inFile, inModel))
                    problems.Add($"{where}: {name} is {Format(inFile)} in the config but {Format(inModel)} in the model.");
            }
            Check("kind", t.Kind, m.Kind);
            Check("in_features", t.InFeatures, m.InFeatures);
            Check("out_features", t.OutFeatures, m.OutFeatures);
            if (!convert)
            {
                Check("dtype", t.Dtype, m.Dtype);
                if (t.AdapterDtype is not null) Check("adapter_dtype", t.AdapterDtype, m.AdapterDtype);
            }
            if (t.Kind == m.Kind)
            {
                Check("rank", t.Rank, m.Rank);
                Check("alpha", t.Alpha, m.Alpha);
                Check("scaling", t.Scaling, m.Scaling);
                Check("ramp_length", t.RampLength, m.RampLength);
                Check("init", t.Init, m.Init);
                Check("dropout", t.Dropout, m.Dropout);
                foreach (var problem in layer.CheckSaved(t, key => file.Tensors.TryGetValue(Key(path, key), out var saved) ? saved : null))
                    problems.Add($"{where}: {problem}");
            }
            if (t.Merged && (t.MergedScale is not { } ms || !double.IsFinite(ms)))
                problems.Add($"{where}: marked merged but has no finite merged_scale.");
            foreach (var (key, shape) in t.Tensors)
                if (file.Tensors.TryGetValue(Key(path, key), out var loaded) && !loaded.shape.SequenceEqual(shape ?? Array.Empty<long>()))
                    problems.Add($"{where}: the config gives tensor '{key}' shape {Shape(shape ?? Array.Empty<long>())} but the tensors file has {Shape(loaded.shape)}.");
        }

        // Summary fields, when present, apply to every target that has the option.
        void Summary<T>(string name, T? value, Func<AdapterTarget, T?> of) where T : struct
        {
            if (value is not { } v) return;
            var bad = described.Select(of).Where(a => a is { } x && !EqualityComparer<T>.Default.Equals(x, v)).ToList();
            if (bad.Count > 0)
                problems.Add($"The config's {name} is {Format(v)} but {bad.Count} adapted layer(s) of the model have {string.Join(", ", bad.Select(b => Format(b)).Distinct())}.");
        }
        Summary("r", config.Rank, t => (int?)t.Rank);
        Summary("alpha", config.Alpha, t => (double?)t.Alpha);
        Summary("scaling", config.Scaling, t => (ScalingRule?)t.Scaling);
        Summary("dropout", config.Dropout, t => (double?)t.Dropout);
        Summary("ramp_length", config.RampLength, t => t.RampLength);
        Summary("init", config.Init, t => t.Init);
        return problems;
    }

    private static void Apply(nn.Module model, IReadOnlyList<(string Path, AdaptedLinear Layer)> layers, AdapterConfig config, SafeTensorsFile file, string directory, string slot)
    {
        var targets = config.Targets.ToDictionary(t => t.Path, StringComparer.Ordinal);
        var backups = new List<(Tensor Live, Tensor Copy)>();
        var mergedHere = new List<AdaptedLinear>();
        try
        {
            using (no_grad())
            {
                var copies = new List<(string FileKey, Tensor Live)>();
                foreach (var (path, layer) in layers)
                {
                    foreach (var (key, live) in layer.FileTensors(slot)) copies.Add((Key(path, key), live));
                    if (targets[path].Merged) backups.Add((layer.weight, layer.weight.detach().clone()));
                }
                copies.AddRange(ModuleTensors(model, layers, config.ModulesToSave ?? Array.Empty<string>()));
                foreach (var (fileKey, live) in copies)
                {
                    backups.Add((live, live.detach().clone()));
                    live.copy_(file.Tensors[fileKey]);   // onto the model's device, converted to its dtype (checked above)
                }
            }
            foreach (var (path, layer) in layers)
            {
                if (!targets[path].Merged) continue;
                layer.MergeWithScale(targets[path].MergedScale!.Value);
                mergedHere.Add(layer);
            }
        }
        catch (Exception ex)
        {
            // Put everything back exactly: drop the merges made here, then restore every tensor (base weights included).
            foreach (var layer in mergedHere) layer.Unmerge();
            using (no_grad())
                foreach (var (live, copy) in backups) live.copy_(copy);
            throw new AdapterLoadException(directory, new[] { $"Restoring the saved merge state failed, so nothing was loaded: {ex.Message}" }, ex);
        }
        finally
        {
            foreach (var (_, copy) in backups) copy.Dispose();
        }
    }
}
