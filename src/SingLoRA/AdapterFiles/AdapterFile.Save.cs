using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text.Json;
using TorchSharp;
using static TorchSharp.torch;

namespace SingLoRA.AdapterFiles;

// Saving a model's adapters (and modules to save) to an adapter folder.
public static partial class AdapterFile
{
    /// <summary>
    /// Saves every adapted layer's tensors (not the base weights) to <c>directory/adapter_model.safetensors</c> and its
    /// options, ramp step and merge state to <c>directory/adapter_config.json</c>; both files are written atomically.
    /// A merged layer is saved with its merge state (<c>merged</c>, <c>merged_scale</c>), so loading restores it.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="directory">The adapter folder (created if needed).</param>
    /// <param name="adapterName">Which named adapter to save; null saves the active one. The name goes into the config.</param>
    /// <param name="modulesToSave">Paths of modules to save whole beside the adapters, such as a classification head trained
    /// with them (PEFT's <c>modules_to_save</c>). They must not contain adapted layers. Null: the modules to save of the config
    /// given to <c>ApplySingLoRA</c> or <c>AddSingLoRA</c> (none when it named none).</param>
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

        modulesToSave ??= ModulesToSave.Of(model);
        var saved = ModuleTensors(model, layers, modulesToSave);
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
            ModulesToSave = modulesToSave.ToList(),
            WeightsSha256 = sha,
        };
        AtomicFile.Write(Path.Combine(directory, ConfigFileName),
            stream => JsonSerializer.Serialize(stream, config, AdapterConfig.JsonOptions));
        return config;
    }
}
