using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace SingLoRA.AdapterFiles;

/// <summary>
/// Adapter files: save and load a model's adapters alone (safetensors plus a PEFT-like <c>adapter_config.json</c>), and
/// export a merged model as a plain state dict. The format is documented in <c>docs/adapter-format.md</c>.
/// </summary>
/// <remarks>
/// <para>Tensor names are the model's state-dict keys: <c>blocks.0.attn.q.singlora_A</c> and
/// <c>blocks.0.attn.q.singlora_step</c> for SingLoRA layers, <c>....lora_A</c> / <c>....lora_B</c> for LoRA layers.</para>
/// <para>Loading is strict and all-or-nothing: every problem (missing, unexpected, wrongly shaped or typed tensors,
/// options that disagree with the model's adapters, merged layers, a corrupt file) is collected into one
/// <see cref="AdapterLoadException"/>, and the model is changed only when there is none; if restoring a merge fails
/// midway, everything already changed is put back exactly.</para>
/// </remarks>
public static class AdapterFile
{
    /// <summary>The tensors file's name inside an adapter folder.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    /// <summary>The config file's name inside an adapter folder.</summary>
    public const string ConfigFileName = "adapter_config.json";

    /// <summary>The library version written into configs.</summary>
    public static string LibraryVersion { get; } = ReadLibraryVersion();

    // ---------------------------------------------------------------------------------------------------- save

    /// <summary>
    /// Saves every adapted layer's tensors (not the base weights) to <c>directory/adapter_model.safetensors</c> and its
    /// options, ramp step and merge state to <c>directory/adapter_config.json</c>; both files are written atomically.
    /// A merged layer is saved with its merge state (<c>merged</c>, <c>merged_scale</c>), so loading restores it.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="directory">The adapter folder (created if needed).</param>
    /// <param name="adapterName">Which named adapter to save; null saves the active one. The name goes into the config.</param>
    /// <param name="modulesToSave">Paths of modules to save whole beside the adapters, such as a classification head trained
    /// with them (PEFT's <c>modules_to_save</c>). They must not contain adapted layers.</param>
    /// <param name="allowUnsavedTrainable">False (the default): refuse to save when a parameter that requires gradients is
    /// neither the adapter's nor in <paramref name="modulesToSave"/>, because what was trained there would be lost.
    /// True: save anyway.</param>
    /// <returns>The config that was written.</returns>
    /// <exception cref="InvalidOperationException">The model has no adapted layers, a merged layer's adapter changed since it was
    /// merged, a module to save is missing or holds adapters, or trainable parameters would not be saved; nothing is written.</exception>
    public static AdapterConfig SaveAdapters(this nn.Module model, string directory, string? adapterName = null,
        IReadOnlyList<string>? modulesToSave = null, bool allowUnsavedTrainable = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var layers = model.GetAdaptedLayers();
        if (layers.Count == 0)
            throw new InvalidOperationException("The model has no adapted layers (SingLoRALinear or LoRALinear); there is nothing to save.");
        string slot = adapterName ?? ActiveSlot(layers);
        CheckSlotExists(layers, slot);

        var stale = new List<string>();
        foreach (var (path, layer) in layers)
            if (layer.IsMergedWith(slot) && layer.MergedAdapterTensors is { } snapshot && !layer.AdapterParameters.Zip(snapshot).All(p => p.First.detach().cpu().eq(p.Second.cpu()).all().item<bool>()))
                stale.Add(Display(path));
        if (stale.Count > 0)
            throw new InvalidOperationException(
                $"Cannot save: the adapter of merged layer(s) {string.Join(", ", stale)} changed after it was merged, so the file could not reproduce the merged weights. " +
                "Call UnmergeAdapters() (and merge again if needed) before saving.");

        var saved = ModuleTensors(model, layers, modulesToSave ?? Array.Empty<string>());
        if (!allowUnsavedTrainable)
        {
            var kept = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
            foreach (var (_, layer) in layers) foreach (var (_, t) in layer.FileTensors(slot)) kept.Add(t);
            foreach (var (_, t) in saved) kept.Add(t);
            var lost = model.named_parameters().Where(p => p.parameter.requires_grad && !kept.Contains(p.parameter)).Select(p => p.name).ToList();
            if (lost.Count > 0)
                throw new InvalidOperationException(
                    $"Cannot save: {lost.Count} parameter(s) require gradients but are neither adapter tensors nor in modulesToSave, so anything trained there would be lost: " +
                    $"{string.Join(", ", lost.Take(12))}{(lost.Count > 12 ? ", ..." : "")}. If they were trained, pass their modules as modulesToSave (e.g. [\"{ModuleOf(lost[0])}\"]); " +
                    "if not, freeze them (model.FreezeAllButAdapters()) or pass allowUnsavedTrainable: true. Nothing was written.");
        }

        var tensors = new List<KeyValuePair<string, Tensor>>();
        var targets = new List<AdapterTarget>();
        foreach (var (path, layer) in layers)
        {
            foreach (var (key, tensor) in layer.FileTensors(slot)) tensors.Add(new(Key(path, key), tensor));
            targets.Add(layer.Describe(path, slot));
        }
        foreach (var (key, tensor) in saved) tensors.Add(new(key, tensor));

        Directory.CreateDirectory(directory);
        string sha = "";
        AtomicFile.Write(Path.Combine(directory, WeightsFileName), stream =>
        {
            using var hash = SHA256.Create();
            using (var hashing = new CryptoStream(stream, hash, CryptoStreamMode.Write, leaveOpen: true))
            {
                SafeTensors.Write(hashing, tensors, new Dictionary<string, string> { ["format"] = "pt", ["singlora_format"] = $"{AdapterConfig.FormatName}/{AdapterConfig.CurrentFormatVersion}" });
                hashing.FlushFinalBlock();
            }
            sha = Convert.ToHexStringLower(hash.Hash!);
        });

        var config = new AdapterConfig
        {
            Method = targets.Select(t => t.Kind).Distinct().Count() == 1 ? targets[0].Kind : "mixed",
            LibraryVersion = LibraryVersion,
            AdapterName = slot,
            Rank = Shared(targets, t => (int?)t.Rank),
            Alpha = Shared(targets, t => (double?)t.Alpha),
            Scaling = Shared(targets, t => (ScalingRule?)t.Scaling),
            RampLength = Shared(targets.Where(t => t.RampLength is not null).ToList(), t => t.RampLength),
            Step = Shared(targets.Where(t => t.Step is not null).ToList(), t => t.Step),
            Init = Shared(targets.Where(t => t.Init is not null).ToList(), t => t.Init),
            Dropout = Shared(targets, t => (double?)t.Dropout),
            MergeState = targets.All(t => t.Merged) ? "merged" : targets.Any(t => t.Merged) ? "partial" : "unmerged",
            TargetModules = targets.Select(t => t.Path).ToList(),
            Targets = targets,
            ModulesToSave = (modulesToSave ?? Array.Empty<string>()).ToList(),
            WeightsSha256 = sha,
        };
        AtomicFile.Write(Path.Combine(directory, ConfigFileName),
            stream => JsonSerializer.Serialize(stream, config, AdapterConfig.JsonOptions));
        return config;
    }

    // ---------------------------------------------------------------------------------------------------- load

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
    /// <param name="adapterName">The adapter to load into; null loads into the active one. A name the model's SingLoRA layers
    /// do not have yet is added to every layer with the file's options (not activated), PEFT's <c>load_adapter</c>.</param>
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

    // ---------------------------------------------------------------------------------------------------- merged export

    /// <summary>
    /// A plain state dict of the model with every adapter folded into its base weight (<c>W0 + s·u(t)·ΔW</c>, in float32
    /// or better, cast to the base dtype; a merged layer's weight is taken as it is) and no adapter tensors, so it loads
    /// into the same class built without adapters. The model is not changed. The caller owns the returned tensors.
    /// </summary>
    /// <exception cref="InvalidOperationException">A folded weight would not be finite.</exception>
    public static Dictionary<string, Tensor> ExportMergedStateDict(this nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var layers = model.GetAdaptedLayers();
        var adapterKeys = new HashSet<string>(StringComparer.Ordinal);
        var weights = new Dictionary<string, AdaptedLinear>(StringComparer.Ordinal);
        foreach (var (path, layer) in layers)
        {
            // Every adapter's tensors (all named adapters): everything the layer registers but the base weight and bias.
            foreach (var (name, _) in layer.named_parameters(recurse: false).Select(p => (p.name, (Tensor)p.parameter)).Concat(layer.named_buffers(recurse: false)))
                if (name is not ("weight" or "bias")) adapterKeys.Add(Key(path, name));
            weights[Key(path, "weight")] = layer;
        }

        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var bad = new List<string>();
        try
        {
            using var _ = no_grad();
            // A merged layer refuses state_dict(); the parameters and persistent buffers are exactly its entries.
            var entries = model.named_parameters().Select(p => (p.name, (Tensor)p.parameter))
                .Concat(model.named_buffers(include_nonpersistent: false).Select(b => (b.name, b.buffer)));
            foreach (var (name, tensor) in entries)
            {
                if (adapterKeys.Contains(name) || result.ContainsKey(name)) continue;
                if (weights.TryGetValue(name, out var layer) && !layer.IsMerged)
                {
                    using var scope = NewDisposeScope();
                    var delta = layer.DeltaWeight();
                    var merged = tensor.detach().to_type(delta.dtype).add(delta).to_type(tensor.dtype);
                    if (!merged.isfinite().all().item<bool>()) bad.Add(name);
                    result[name] = merged.DetachFromDisposeScope();
                }
                else
                {
                    result[name] = tensor.detach().clone();
                }
            }
            if (bad.Count > 0)
                throw new InvalidOperationException($"Folding the adapters in would write non-finite values into {string.Join(", ", bad)}; nothing was exported. Check the adapters for NaNs (a diverged run) or use a wider dtype.");
            return result;
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
    }

    /// <summary>Writes <see cref="ExportMergedStateDict"/> to a safetensors file at <paramref name="path"/>, atomically.</summary>
    public static void SaveMerged(this nn.Module model, string path)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var dict = model.ExportMergedStateDict();
        try
        {
            SafeTensors.Save(path, dict, new Dictionary<string, string> { ["format"] = "pt" });
        }
        finally
        {
            foreach (var t in dict.Values) t.Dispose();
        }
    }

    /// <summary>
    /// Loads a safetensors state dict (for example one written by <see cref="SaveMerged"/>) into <paramref name="module"/>
    /// with TorchSharp's <c>load_state_dict</c>.
    /// </summary>
    /// <exception cref="SafeTensorsFormatException">The file is not a valid safetensors file.</exception>
    public static void LoadSafeTensors(this nn.Module module, string path, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(module);
        using var file = SafeTensors.Load(path);
        module.load_state_dict(file.ToStateDict(), strict);
    }

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
