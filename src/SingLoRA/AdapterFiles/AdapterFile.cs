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
    /// <returns>The config that was written.</returns>
    /// <exception cref="InvalidOperationException">The model has no adapted layers, or a merged layer's adapter changed since it was merged.</exception>
    public static AdapterConfig SaveAdapters(this nn.Module model, string directory)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var layers = model.GetAdaptedLayers();
        if (layers.Count == 0)
            throw new InvalidOperationException("The model has no adapted layers (SingLoRALinear or LoRALinear); there is nothing to save.");

        var stale = new List<string>();
        foreach (var (path, layer) in layers)
            if (layer.MergedAdapterTensors is { } snapshot && !layer.AdapterParameters.Zip(snapshot).All(p => p.First.detach().cpu().eq(p.Second.cpu()).all().item<bool>()))
                stale.Add(Display(path));
        if (stale.Count > 0)
            throw new InvalidOperationException(
                $"Cannot save: the adapter of merged layer(s) {string.Join(", ", stale)} changed after it was merged, so the file could not reproduce the merged weights. " +
                "Call UnmergeAdapters() (and merge again if needed) before saving.");

        var tensors = new List<KeyValuePair<string, Tensor>>();
        var targets = new List<AdapterTarget>();
        foreach (var (path, layer) in layers)
        {
            var own = LayerTensors(layer);
            foreach (var (key, tensor) in own) tensors.Add(new(Key(path, key), tensor));
            targets.Add(Describe(path, layer, own));
        }

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
            R = Shared(targets, t => (int?)t.Rank),
            Alpha = Shared(targets, t => (double?)t.Alpha),
            Scaling = Shared(targets, t => (ScalingRule?)t.Scaling),
            RampSteps = Shared(targets.Where(t => t.Kind == SingLoRAKind).ToList(), t => t.RampSteps),
            Step = Shared(targets.Where(t => t.Kind == SingLoRAKind).ToList(), t => t.Step),
            Init = Shared(targets.Where(t => t.Kind == SingLoRAKind).ToList(), t => t.Init),
            Dropout = Shared(targets, t => (double?)t.Dropout),
            MergeState = targets.All(t => t.Merged) ? "merged" : targets.Any(t => t.Merged) ? "partial" : "unmerged",
            TargetModules = targets.Select(t => t.Path).ToList(),
            Targets = targets,
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
                problems.Add($"{ConfigFileName} has format_version {config.FormatVersion}; this library reads version {AdapterConfig.CurrentFormatVersion}.");
            if (config.Targets is null || config.Targets.Any(t => t is null || t.Path is null || t.Tensors is null))
                problems.Add($"{ConfigFileName} has a missing or incomplete 'targets' list.");
        }
        if (problems.Count > 0) throw new AdapterLoadException(directory, problems);
        return config!;
    }

    /// <summary>
    /// Loads adapters saved by <see cref="SaveAdapters"/> into a model with the same adapted layers and options. Restores
    /// <c>A</c>, the ramp step and the merge state. Validates everything first; on any problem throws one
    /// <see cref="AdapterLoadException"/> naming all of them, and the model is left exactly as it was.
    /// </summary>
    /// <returns>The config that was loaded.</returns>
    public static AdapterConfig LoadAdapters(this nn.Module model, string directory)
    {
        ArgumentNullException.ThrowIfNull(model);
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
            var problems = Validate(model, layers, config, file);
            if (problems.Count > 0) throw new AdapterLoadException(directory, problems);
            Apply(layers, config, file, directory);
        }
        return config;
    }

    private static List<string> Validate(nn.Module model, IReadOnlyList<(string Path, AdaptedLinear Layer)> layers, AdapterConfig config, SafeTensorsFile file)
    {
        var problems = new List<string>();
        if (layers.Count == 0) problems.Add("The model has no adapted layers to load into.");

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
                problems.Add($"Missing target: the model adapts {Display(path)} ({Kind(layer)}) but the config has no such target.");
        }
        foreach (var t in config.Targets.Where(t => !byPath.ContainsKey(t.Path)))
            problems.Add($"Unexpected target: the config has {Display(t.Path)} ({t.Kind}) but the model has no adapted layer there.");

        // Tensors: every key the model's adapters have must be in the file, with the same shape and dtype.
        var expected = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (path, layer) in layers)
            foreach (var (key, tensor) in LayerTensors(layer)) expected[Key(path, key)] = tensor;
        foreach (var (key, tensor) in expected)
        {
            if (!file.Tensors.TryGetValue(key, out var loaded))
            {
                problems.Add($"Missing tensor '{key}' (shape {Shape(tensor.shape)}, {SafeTensors.DTypeName(tensor.dtype)}).");
                continue;
            }
            if (!loaded.shape.SequenceEqual(tensor.shape))
                problems.Add($"Tensor '{key}' has shape {Shape(loaded.shape)} in the file but {Shape(tensor.shape)} in the model.");
            if (loaded.dtype != tensor.dtype)
                problems.Add($"Tensor '{key}' has dtype {SafeTensors.DTypeName(loaded.dtype)} in the file but {SafeTensors.DTypeName(tensor.dtype)} in the model (convert the model or the file; dtypes are not converted silently).");
        }
        foreach (var key in file.Names.Where(k => !expected.ContainsKey(k)))
            problems.Add($"Unexpected tensor '{key}' (shape {Shape(file.Tensors[key].shape)}): the model has no such adapter tensor.");

        // Options: each matched target must agree with the layer's adapter options.
        foreach (var (path, layer) in layers)
        {
            if (!targets.TryGetValue(path, out var t)) continue;
            var where = $"Target {Display(path)}";
            void Check<T>(string name, T? inFile, T inModel)
            {
                if (!EqualityComparer<T?>.Default.Equals(inFile, inModel))
                    problems.Add($"{where}: {name} is {Format(inFile)} in the config but {Format(inModel)} in the model.");
            }
            Check("kind", t.Kind, Kind(layer));
            Check("in_features", t.InFeatures, layer.InFeatures);
            Check("out_features", t.OutFeatures, layer.OutFeatures);
            Check("dtype", t.Dtype, SafeTensors.DTypeName(layer.weight.dtype));
            switch (layer)
            {
                case SingLoRALinear s:
                    Check("rank", t.Rank, s.Options.Rank);
                    Check("alpha", t.Alpha, s.Options.Alpha);
                    Check("scaling", t.Scaling, s.Options.Scaling);
                    Check("ramp_steps", t.RampSteps, (long?)s.Options.RampSteps);
                    Check("init", t.Init, (AdapterInit?)s.Options.Init);
                    Check("dropout", t.Dropout, s.Options.Dropout);
                    if (file.Tensors.TryGetValue(Key(path, SingLoRALinear.StepKey), out var step) && step.dtype == ScalarType.Int64 && step.numel() == 1)
                    {
                        long value = step.item<long>();
                        if (value < 0) problems.Add($"{where}: the saved ramp step is {value}; it cannot be negative.");
                        if (t.Step != value) problems.Add($"{where}: the config says step {Format(t.Step)} but the tensors file holds step {value}.");
                    }
                    break;
                case LoRALinear l:
                    Check("rank", t.Rank, l.Options.Rank);
                    Check("alpha", t.Alpha, l.Options.Alpha);
                    Check("scaling", t.Scaling, l.Options.Scaling);
                    Check("dropout", t.Dropout, l.Options.Dropout);
                    break;
            }
            if (t.Merged && (t.MergedScale is not { } ms || !double.IsFinite(ms)))
                problems.Add($"{where}: marked merged but has no finite merged_scale.");
            foreach (var (key, shape) in t.Tensors)
                if (file.Tensors.TryGetValue(Key(path, key), out var loaded) && !loaded.shape.SequenceEqual(shape ?? Array.Empty<long>()))
                    problems.Add($"{where}: the config gives tensor '{key}' shape {Shape(shape ?? Array.Empty<long>())} but the tensors file has {Shape(loaded.shape)}.");
        }

        // Summary fields, when present, apply to every target of their kind.
        var singlora = layers.Select(l => l.Layer).OfType<SingLoRALinear>().ToList();
        void Summary<T>(string name, T? value, IEnumerable<(AdaptedLinear Layer, T Value)> actual) where T : struct
        {
            if (value is not { } v) return;
            var bad = actual.Where(a => !EqualityComparer<T>.Default.Equals(a.Value, v)).Select(a => a.Layer).ToList();
            if (bad.Count > 0)
                problems.Add($"The config's {name} is {Format(v)} but {bad.Count} adapted layer(s) of the model have {string.Join(", ", bad.Select(b => Format(ValueOf(actual, b))).Distinct())}.");
        }
        Summary("r", config.R, layers.Select(l => (l.Layer, Rank(l.Layer))));
        Summary("alpha", config.Alpha, layers.Select(l => (l.Layer, Alpha(l.Layer))));
        Summary("scaling", config.Scaling, layers.Select(l => (l.Layer, Scaling(l.Layer))));
        Summary("dropout", config.Dropout, layers.Select(l => (l.Layer, l.Layer.Dropout)));
        Summary("ramp_steps", config.RampSteps, singlora.Select(s => ((AdaptedLinear)s, s.Options.RampSteps)));
        Summary("init", config.Init, singlora.Select(s => ((AdaptedLinear)s, s.Options.Init)));
        _ = model;
        return problems;
    }

    private static T ValueOf<T>(IEnumerable<(AdaptedLinear Layer, T Value)> values, AdaptedLinear layer) => values.First(v => ReferenceEquals(v.Layer, layer)).Value;

    private static void Apply(IReadOnlyList<(string Path, AdaptedLinear Layer)> layers, AdapterConfig config, SafeTensorsFile file, string directory)
    {
        var targets = config.Targets.ToDictionary(t => t.Path, StringComparer.Ordinal);
        var backups = new List<(Tensor Live, Tensor Copy)>();
        var mergedHere = new List<AdaptedLinear>();
        try
        {
            using (no_grad())
            {
                foreach (var (path, layer) in layers)
                {
                    var tensors = LayerTensors(layer).ToList();
                    if (targets[path].Merged) tensors.Add(("weight", layer.weight));
                    foreach (var (key, live) in tensors)
                    {
                        backups.Add((live, live.detach().clone()));
                        if (key != "weight") live.copy_(file.Tensors[Key(path, key)]);
                    }
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
            foreach (var (key, _) in LayerTensors(layer)) adapterKeys.Add(Key(path, key));
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

    private const string SingLoRAKind = "singlora";
    private const string LoRAKind = "lora";

    /// <summary>The tensors an adapter file holds for one layer, with their keys relative to the layer.</summary>
    internal static IReadOnlyList<(string Key, Tensor Tensor)> LayerTensors(AdaptedLinear layer) => layer switch
    {
        SingLoRALinear s => new (string, Tensor)[] { (SingLoRALinear.AdapterKey, s.A), (SingLoRALinear.StepKey, s.StepTensor) },
        LoRALinear l => new (string, Tensor)[] { (LoRALinear.AKey, l.A), (LoRALinear.BKey, l.B) },
        _ => throw new NotSupportedException($"Adapter files do not support {layer.GetType().Name} layers."),
    };

    private static AdapterTarget Describe(string path, AdaptedLinear layer, IReadOnlyList<(string Key, Tensor Tensor)> own)
    {
        var target = new AdapterTarget
        {
            Path = path,
            Kind = Kind(layer),
            InFeatures = layer.InFeatures,
            OutFeatures = layer.OutFeatures,
            Dtype = SafeTensors.DTypeName(layer.weight.dtype),
            Rank = Rank(layer),
            Alpha = Alpha(layer),
            Scaling = Scaling(layer),
            Dropout = layer.Dropout,
            Merged = layer.IsMerged,
            MergedScale = layer.MergedScale,
            Tensors = own.ToDictionary(o => o.Key, o => o.Tensor.shape, StringComparer.Ordinal),
        };
        return layer is SingLoRALinear s
            ? target with { RampSteps = s.Options.RampSteps, Step = s.RampStep, Init = s.Options.Init }
            : target;
    }

    private static string Kind(AdaptedLinear layer) => layer is SingLoRALinear ? SingLoRAKind : LoRAKind;

    private static int Rank(AdaptedLinear layer) => layer switch { SingLoRALinear s => s.Options.Rank, LoRALinear l => l.Options.Rank, _ => 0 };

    private static double Alpha(AdaptedLinear layer) => layer switch { SingLoRALinear s => s.Options.Alpha, LoRALinear l => l.Options.Alpha, _ => 0 };

    private static ScalingRule Scaling(AdaptedLinear layer) => layer switch { SingLoRALinear s => s.Options.Scaling, LoRALinear l => l.Options.Scaling, _ => default };

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
