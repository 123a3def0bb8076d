using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.IO;
using System.Linq;
using SingLoRA.AdapterFiles;
using SingLoRA.Pretrained;
using TorchSharp;
using static TorchSharp.torch;

namespace SingLoRA;

/// <summary>
/// Loads a plain pretrained checkpoint (a safetensors file, a sharded one through its <c>model.safetensors.index.json</c>,
/// or a state dict) into a model that may hold adapters, safely:
/// every base parameter and buffer of the model must be found in the checkpoint with the same shape and dtype, the
/// adapters' own tensors are expected to be absent, and any problem stops the load before the model is changed.
/// </summary>
/// <remarks>
/// <para>Why not <c>load_state_dict</c>: an adapted model always has keys a plain checkpoint lacks, so TorchSharp's strict
/// load always fails, and the non-strict load silently loads nothing when the checkpoint's keys differ (a <c>model.</c> or
/// <c>bert.</c> prefix): fine-tuning then runs on random base weights with no warning.</para>
/// <para>Rules: the model's layers must not be merged (a merged weight holds <c>W0 + ΔW</c>); each checkpoint key is
/// renamed as <see cref="PretrainedLoadOptions"/> says; then every base tensor of the model must have exactly one
/// checkpoint tensor, of the same shape and dtype (floating-point dtypes are converted only with
/// <see cref="PretrainedLoadOptions.ConvertDTypes"/>); a checkpoint tensor that matches no model tensor, or that matches an
/// adapter tensor, is a problem unless <see cref="PretrainedLoadOptions.AllowUnexpectedKeys"/> is set. Every problem is
/// collected into one <see cref="PretrainedLoadException"/>; only when there is none are the tensors copied (onto each
/// model tensor's device).</para>
/// </remarks>
public static class PretrainedLoader
{
    /// <summary>
    /// Loads the base weights of <paramref name="model"/> from a safetensors file, or from a sharded checkpoint given by its
    /// index file (<see cref="ShardIndexFileName"/>) or the folder that holds it (see <see cref="PretrainedLoader"/>). A sharded
    /// checkpoint is checked whole (index, every shard's header, the model) before any tensor data is read, then copied one
    /// shard at a time. A read error after those checks (the disk, not the file's format) can leave the shards read so far loaded.
    /// </summary>
    /// <returns>What was loaded, what was left out, what was converted.</returns>
    /// <exception cref="PretrainedLoadException">The file is missing or unreadable, or the checkpoint does not fit the model; the model was not changed.</exception>
    [SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "The overloads differ in the type of a required parameter, so no call is ambiguous; the rule guards adding optional parameters to shipped overloads, and this is the surface as first frozen.")]
    public static PretrainedLoadReport LoadPretrained(this nn.Module model, string path, PretrainedLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path) && File.Exists(Path.Combine(path, ShardIndexFileName)))
            path = Path.Combine(path, ShardIndexFileName);
        if (path.EndsWith(".index.json", StringComparison.Ordinal))
            return LoadSharded(model, path, options ?? PretrainedLoadOptions.Strict);
        string source = $"'{path}'";
        if (!File.Exists(path))
            throw new PretrainedLoadException(source, new[] { $"The file does not exist (looked for {Path.GetFullPath(path)})." });
        SafeTensorsFile file;
        try
        {
            file = SafeTensors.Load(path);
        }
        catch (SafeTensorsFormatException ex)
        {
            throw new PretrainedLoadException(source, new[]
            {
                ex.Message + " LoadPretrained reads safetensors files, one or sharded with a model.safetensors.index.json; a PyTorch pickle (.bin, .pt) is refused: it is " +
                "Python's object serialization, which is read safely only by a restricted unpickler, and this library ships none. Convert it to safetensors first " +
                "(in Python: safetensors.torch.save_file(torch.load(path, weights_only=True), out), where weights_only refuses anything but tensors), " +
                "or load it yourself and pass the state dict.",
            }, ex);
        }
        using (file) return FromStateDict(model, file.Tensors, source, options ?? PretrainedLoadOptions.Strict);
    }

    /// <summary>The index file of a sharded checkpoint, as Hugging Face names it.</summary>
    public const string ShardIndexFileName = "model.safetensors.index.json";

    /// <summary>Loads the base weights of <paramref name="model"/> from a state dict (see <see cref="PretrainedLoader"/>). The tensors are copied, not kept.</summary>
    /// <returns>What was loaded, what was left out, what was converted.</returns>
    /// <exception cref="PretrainedLoadException">The checkpoint does not fit the model; the model was not changed.</exception>
    [SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "The overloads differ in the type of a required parameter, so no call is ambiguous; the rule guards adding optional parameters to shipped overloads, and this is the surface as first frozen.")]
    public static PretrainedLoadReport LoadPretrained(this nn.Module model, IReadOnlyDictionary<string, Tensor> stateDict, PretrainedLoadOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(stateDict);
        return FromStateDict(model, stateDict, "the state dict", options ?? PretrainedLoadOptions.Strict);
    }

    // What validation needs of a checkpoint tensor (null: the state dict holds null under that key); the data is read later.
    private sealed record TensorInfo(long[] Shape, ScalarType DType);

    private static PretrainedLoadReport FromStateDict(nn.Module model, IReadOnlyDictionary<string, Tensor> stateDict, string source, PretrainedLoadOptions options)
    {
        var infos = stateDict.ToDictionary(kv => kv.Key, kv => kv.Value is null ? null : new TensorInfo(kv.Value.shape, kv.Value.dtype), StringComparer.Ordinal);
        return Load(model, infos, copy => { foreach (var (key, tensor) in stateDict) if (tensor is not null) copy(key, tensor); }, source, options, new List<string>());
    }

    /// <summary>
    /// A sharded checkpoint (<c>model.safetensors.index.json</c> plus shards): the index and every shard's header are checked
    /// first, with the model, without reading any tensor data; then the shards are read one at a time and copied into the
    /// model, so memory holds the model and one shard, never the whole checkpoint beside it.
    /// </summary>
    private static PretrainedLoadReport LoadSharded(nn.Module model, string indexPath, PretrainedLoadOptions options)
    {
        string source = $"'{indexPath}'";
        if (!File.Exists(indexPath))
            throw new PretrainedLoadException(source, new[] { $"The index file does not exist (looked for {Path.GetFullPath(indexPath)})." });
        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(indexPath));
            if (!json.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != System.Text.Json.JsonValueKind.Object)
                throw new PretrainedLoadException(source, new[] { "The index has no \"weight_map\" object (tensor name -> shard file), which a sharded safetensors checkpoint's index always has." });
            foreach (var entry in map.EnumerateObject())
            {
                if (entry.Value.ValueKind != System.Text.Json.JsonValueKind.String || entry.Value.GetString() is not { Length: > 0 } shard
                    || Path.GetFileName(shard) != shard)
                    throw new PretrainedLoadException(source, new[] { $"The index maps '{entry.Name}' to {entry.Value}, which is not a shard file name in the index's folder." });
                weightMap[entry.Name] = shard;
            }
        }
        catch (System.Text.Json.JsonException ex)
        {
            throw new PretrainedLoadException(source, new[] { $"The index is not valid JSON: {ex.Message}" }, ex);
        }

        string folder = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        var shards = weightMap.Values.Distinct(StringComparer.Ordinal).OrderBy(f => f, StringComparer.Ordinal).ToList();
        var problems = new List<string>();
        var infos = new Dictionary<string, TensorInfo?>(StringComparer.Ordinal);
        foreach (var shard in shards)
        {
            string file = Path.Combine(folder, shard);
            var expected = weightMap.Where(kv => kv.Value == shard).Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
            if (!File.Exists(file))
            {
                problems.Add($"The index maps {expected.Count} tensor(s) to the shard '{shard}', which is not in '{folder}'.");
                continue;
            }
            try
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read);
                var (entries, _, _) = SafeTensors.ReadHeader(stream, $"the shard '{shard}'");
                foreach (var e in entries)
                {
                    if (expected.Remove(e.Name)) infos[e.Name] = new TensorInfo(e.Shape, e.DType);
                    else problems.Add($"The shard '{shard}' holds '{e.Name}', which the index maps to {(weightMap.TryGetValue(e.Name, out var other) ? $"'{other}'" : "no shard")}.");
                }
                foreach (var name in expected)
                    problems.Add($"The index maps '{name}' to the shard '{shard}', which has no such tensor.");
            }
            catch (SafeTensorsFormatException ex)
            {
                problems.Add(ex.Message);
            }
        }

        return Load(model, infos, copy =>
        {
            foreach (var shard in shards)
            {
                using var file = SafeTensors.Load(Path.Combine(folder, shard));   // one shard in memory at a time
                foreach (var (key, tensor) in file.Tensors)
                    if (weightMap.TryGetValue(key, out var owner) && owner == shard) copy(key, tensor);
            }
        }, source, options, problems);
    }

    private static PretrainedLoadReport Load(nn.Module model, IReadOnlyDictionary<string, TensorInfo?> checkpoint, Action<Action<string, Tensor>> read,
        string source, PretrainedLoadOptions options, List<string> problems)
    {

        // The model's side. named_parameters + persistent named_buffers are state_dict()'s keys, read without state_dict(),
        // which a merged adapted layer refuses; a merged layer is reported below with the other problems.
        var layers = model.GetAdaptedLayers();
        foreach (var (path, layer) in layers.Where(l => l.Layer.IsMerged))
            problems.Add($"The adapted layer {Display(path)} is merged: its weight holds W0 + ΔW, and loading W0 into it would corrupt the merge. Call UnmergeAdapters() before LoadPretrained.");
        var adapterKeys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (path, layer) in layers)
        {
            foreach (var (name, _) in layer.named_parameters(recurse: false).Where(p => p.name is not ("weight" or "bias")))
                adapterKeys.Add(Key(path, name));
            foreach (var (name, _) in layer.named_buffers(recurse: false, include_nonpersistent: false))
                adapterKeys.Add(Key(path, name));
        }
        var modelTensors = new List<(string Key, Tensor Tensor)>();
        var seenKeys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, tensor) in model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(model.named_buffers(include_nonpersistent: false)))
            if (seenKeys.Add(name)) modelTensors.Add((name, tensor));
        var baseTensors = modelTensors.Where(t => !adapterKeys.Contains(t.Key)).ToList();

        // The checkpoint's side: rename, detect collisions.
        var byModelKey = new Dictionary<string, string>(StringComparer.Ordinal); // model key -> checkpoint key
        var skipped = new List<string>();
        foreach (var key in checkpoint.Keys)
        {
            string? mapped = Rename(key, options);
            if (mapped is null) { skipped.Add(key); continue; }
            if (byModelKey.TryGetValue(mapped, out var other))
                problems.Add($"Checkpoint keys '{other}' and '{key}' both map to the model key '{mapped}'; fix StripPrefix / AddPrefix / MapKey so that each model tensor gets one checkpoint tensor.");
            else
                byModelKey[mapped] = key;
        }

        // Match: every base tensor must be found, with the same shape and dtype.
        var loaded = new List<(LoadedTensor Entry, Tensor Target, string CheckpointKey)>();
        var missing = new List<string>();
        foreach (var (key, target) in baseTensors)
        {
            if (!byModelKey.TryGetValue(key, out var checkpointKey))
            {
                missing.Add(key);
                problems.Add($"Missing: the model's '{key}' (shape {Shape(target.shape)}, {DType(target.dtype)}) is not in the checkpoint{Renamed(options)}.");
                continue;
            }
            var tensor = checkpoint[checkpointKey];
            string from = checkpointKey == key ? $"'{key}'" : $"'{key}' (checkpoint key '{checkpointKey}')";
            bool ok = true;
            if (tensor is null)
            {
                problems.Add($"Tensor {from} is null in the checkpoint.");
                continue;
            }
            if (!tensor.Shape.SequenceEqual(target.shape))
            {
                problems.Add($"Shape mismatch: {from} is {Shape(tensor.Shape)} in the checkpoint but {Shape(target.shape)} in the model (a different model size or configuration, or a weight stored transposed).");
                ok = false;
            }
            string? convertedFrom = null;
            if (tensor.DType != target.dtype)
            {
                bool convertible = is_floating_point(tensor.DType) && is_floating_point(target);
                if (options.ConvertDTypes && convertible) convertedFrom = DType(tensor.DType);
                else
                {
                    problems.Add($"DType mismatch: {from} is {DType(tensor.DType)} in the checkpoint but {DType(target.dtype)} in the model" +
                        (convertible ? " (set ConvertDTypes = true to convert it, or convert the model with model.to(dtype))." : "; only floating-point tensors can be converted."));
                    ok = false;
                }
            }
            if (ok) loaded.Add((new LoadedTensor(checkpointKey, key, target.shape.ToArray(), DType(target.dtype), convertedFrom), target, checkpointKey));
        }
        if (missing.Count > 0 && Suggestion(missing, baseTensors.Select(t => t.Key).ToList(), checkpoint.Keys.ToList()) is { } hint)
            problems.Insert(0, hint);

        // Left over: checkpoint tensors that match no base tensor.
        var unexpected = new List<string>();
        var baseKeys = new HashSet<string>(baseTensors.Select(t => t.Key), StringComparer.Ordinal);
        foreach (var (modelKey, checkpointKey) in byModelKey.Where(kv => !baseKeys.Contains(kv.Key)))
        {
            unexpected.Add(checkpointKey);
            if (options.AllowUnexpectedKeys) continue;
            string shown = modelKey == checkpointKey ? $"'{checkpointKey}'" : $"'{checkpointKey}' (mapped to '{modelKey}')";
            problems.Add(adapterKeys.Contains(modelKey)
                ? $"Unexpected: the checkpoint has the adapter tensor {shown}; LoadPretrained loads base weights only (load adapters with LoadAdapters), or set AllowUnexpectedKeys = true to leave it out."
                : $"Unexpected: the checkpoint has {shown} (shape {Shape(checkpoint[checkpointKey]?.Shape ?? Array.Empty<long>())}), which matches no tensor of the model; set AllowUnexpectedKeys = true to leave it out, or map it with StripPrefix / AddPrefix / MapKey.");
        }

        if (problems.Count > 0) throw new PretrainedLoadException(source, problems);

        // Everything fits: copy, as the source reads its tensors (a sharded checkpoint one shard at a time).
        var targets = loaded.ToDictionary(l => l.CheckpointKey, l => l.Target, StringComparer.Ordinal);
        using (no_grad())
        {
            read((key, tensor) =>
            {
                if (!targets.TryGetValue(key, out var target)) return;
                using var scope = NewDisposeScope();
                target.copy_(tensor.to(target.dtype, target.device));
            });
        }
        return new PretrainedLoadReport(source, loaded.Select(l => l.Entry).ToList(),
            modelTensors.Where(t => adapterKeys.Contains(t.Key)).Select(t => t.Key).ToList(), unexpected, skipped);
    }

    private static string? Rename(string key, PretrainedLoadOptions options)
    {
        if (!string.IsNullOrEmpty(options.StripPrefix) && key.StartsWith(options.StripPrefix, StringComparison.Ordinal))
            key = key[options.StripPrefix.Length..];
        if (!string.IsNullOrEmpty(options.AddPrefix)) key = options.AddPrefix + key;
        return options.MapKey is null ? key : options.MapKey(key);
    }

    /// <summary>
    /// When keys are missing, looks for the prefix that would have made them match: a first key segment that all checkpoint
    /// keys share (to strip), or a leading part of the model's keys (to add).
    /// </summary>
    private static string? Suggestion(IReadOnlyList<string> missing, IReadOnlyList<string> modelKeys, IReadOnlyList<string> checkpointKeys)
    {
        var checkpointSet = new HashSet<string>(checkpointKeys, StringComparer.Ordinal);
        foreach (var prefix in Prefixes(checkpointKeys))
        {
            int hits = missing.Count(k => checkpointSet.Contains(prefix + k));
            if (hits > missing.Count / 2)
                return $"Hint: {hits} of the {missing.Count} missing keys are in the checkpoint with the prefix '{prefix}' (for example '{prefix}{missing.First(k => checkpointSet.Contains(prefix + k))}'): pass new PretrainedLoadOptions {{ StripPrefix = \"{prefix}\" }}.";
        }
        foreach (var prefix in Prefixes(modelKeys))
        {
            int hits = missing.Count(k => k.StartsWith(prefix, StringComparison.Ordinal) && checkpointSet.Contains(k[prefix.Length..]));
            if (hits > missing.Count / 2)
                return $"Hint: {hits} of the {missing.Count} missing keys are in the checkpoint without the prefix '{prefix}': pass new PretrainedLoadOptions {{ AddPrefix = \"{prefix}\" }}.";
        }
        return null;
    }

    /// <summary>The distinct leading segments (<c>"bert."</c>, <c>"model.encoder."</c>, ...) up to three deep of the given keys.</summary>
    private static IEnumerable<string> Prefixes(IEnumerable<string> keys) =>
        keys.SelectMany(k =>
        {
            var parts = k.Split('.');
            return Enumerable.Range(1, Math.Min(3, parts.Length - 1)).Select(n => string.Join('.', parts.Take(n)) + ".");
        }).Distinct(StringComparer.Ordinal);

    private static string Renamed(PretrainedLoadOptions options) =>
        options.StripPrefix is null && options.AddPrefix is null && options.MapKey is null ? "" : " after renaming its keys";

    private static string Key(string path, string name) => path.Length == 0 ? name : path + "." + name;

    private static string Display(string path) => path.Length == 0 ? "'' (the root module)" : $"'{path}'";

    private static string Shape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";

    private static string DType(ScalarType type)
    {
        try { return SafeTensors.DTypeName(type); }
        catch (NotSupportedException) { return type.ToString(); }
    }
}
