using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace SingLoRA.AdapterFiles;

// Exporting a merged model as a plain state dict, and loading one.
public static partial class AdapterFile
{
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
}
