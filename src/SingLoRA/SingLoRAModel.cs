using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA;

/// <summary>
/// Model-level adapter operations for any TorchSharp module: they walk the module tree with TorchSharp's public
/// <c>named_modules()</c> (no reflection), so an outer model drives every adapter inside it, including those of
/// annotated blocks nested in a <c>ModuleList</c>.
/// </summary>
public static class SingLoRAModel
{
    /// <summary>Every adapted layer (SingLoRA and LoRA) of the subtree, with its dotted path (<c>blocks.0.attn.q</c>).</summary>
    public static IReadOnlyList<(string Path, AdaptedLinear Layer)> GetAdaptedLayers(this nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var result = new List<(string, AdaptedLinear)>();
        if (model is AdaptedLinear self) result.Add(("", self));
        foreach (var (name, module) in model.named_modules())
            if (module is AdaptedLinear layer) result.Add((name, layer));
        return result;
    }

    /// <summary>Every SingLoRA adapter of the subtree, with its dotted path.</summary>
    public static IReadOnlyList<(string Path, SingLoRALinear Adapter)> GetAdapters(this nn.Module model) =>
        model.GetAdaptedLayers().Where(x => x.Layer is SingLoRALinear).Select(x => (x.Path, (SingLoRALinear)x.Layer)).ToList();

    /// <summary>Counts one optimizer step on every SingLoRA adapter. Call it once per <c>optimizer.step()</c>, not per forward.</summary>
    public static void AdvanceRamp(this nn.Module model)
    {
        foreach (var (_, adapter) in model.GetAdapters()) adapter.AdvanceRamp();
    }

    /// <summary>Sets the ramp step of every SingLoRA adapter (for example when resuming a run).</summary>
    public static void SetRampStep(this nn.Module model, long step)
    {
        if (step < 0)
            throw new ArgumentOutOfRangeException(nameof(step), step, $"The ramp step counts optimizer steps and cannot be negative (got {step}).");
        foreach (var (_, adapter) in model.GetAdapters()) adapter.SetRampStep(step);
    }

    /// <summary>
    /// The ramp value <c>u(t)</c> of the model's SingLoRA adapters. Throws when there are none, or when they disagree
    /// (someone stepped one adapter alone). Reads device buffers: call it outside the training step.
    /// </summary>
    public static double RampValue(this nn.Module model)
    {
        var adapters = model.GetAdapters();
        if (adapters.Count == 0) throw new InvalidOperationException("The model has no SingLoRA adapters.");
        double first = adapters[0].Adapter.RampValue;
        foreach (var (path, adapter) in adapters)
            if (adapter.RampValue != first)
                throw new InvalidOperationException($"The adapters' ramps disagree: '{adapters[0].Path}' is at u = {first}, '{path}' at u = {adapter.RampValue}. Step the whole model with AdvanceRamp(), or realign with SetRampStep().");
        return first;
    }

    /// <summary>Merges every adapted layer. Throws before changing anything when any layer is already merged.</summary>
    public static void MergeAdapters(this nn.Module model)
    {
        var layers = RequireLayers(model);
        var merged = layers.Where(l => l.Layer.IsMerged).Select(l => l.Path).ToList();
        if (merged.Count > 0)
            throw new InvalidOperationException($"Already merged: {string.Join(", ", merged)}. Call UnmergeAdapters() first.");
        var done = new List<AdaptedLinear>();
        try
        {
            foreach (var (_, layer) in layers) { layer.Merge(); done.Add(layer); }
        }
        catch
        {
            foreach (var layer in done) layer.Unmerge();
            throw;
        }
    }

    /// <summary>
    /// Merges every adapted layer only if every one of them would produce finite weights (checked in copies first);
    /// otherwise throws naming the layers, and no weight changes.
    /// </summary>
    public static void SafeMergeAdapters(this nn.Module model)
    {
        var layers = RequireLayers(model);
        var problems = layers.Select(l => (l.Path, Reason: l.Layer.CheckMerge())).Where(p => p.Reason is not null).ToList();
        if (problems.Count > 0)
            throw new InvalidOperationException("Safe merge refused, nothing was changed: " + string.Join(" ", problems.Select(p => $"[{p.Path}] {p.Reason}")));
        foreach (var (_, layer) in layers) layer.SafeMerge();
    }

    /// <summary>Unmerges every adapted layer. Throws before changing anything when any layer is not merged.</summary>
    public static void UnmergeAdapters(this nn.Module model)
    {
        var layers = RequireLayers(model);
        var unmerged = layers.Where(l => !l.Layer.IsMerged).Select(l => l.Path).ToList();
        if (unmerged.Count > 0)
            throw new InvalidOperationException($"Not merged: {string.Join(", ", unmerged)}. Only merged layers can be unmerged.");
        foreach (var (_, layer) in layers) layer.Unmerge();
    }

    /// <summary>Freezes every parameter of the model and makes the adapters' own parameters trainable.</summary>
    public static void FreezeAllButAdapters(this nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        foreach (var p in model.parameters()) p.requires_grad = false;
        foreach (var p in model.AdapterParameters()) p.requires_grad = true;
    }

    /// <summary>The adapters' trainable parameters (SingLoRA's <c>A</c>, LoRA's <c>A</c> and <c>B</c>), for the optimizer.</summary>
    public static IEnumerable<Parameter> AdapterParameters(this nn.Module model) =>
        model.GetAdaptedLayers().SelectMany(l => l.Layer.AdapterParameters).ToList();

    /// <summary>Trainable and total parameter counts, as PEFT's <c>print_trainable_parameters</c> reports them.</summary>
    public static ParameterSummary TrainableParameters(this nn.Module model) => ParameterSummary.Of(model);

    private static IReadOnlyList<(string Path, AdaptedLinear Layer)> RequireLayers(nn.Module model)
    {
        var layers = model.GetAdaptedLayers();
        if (layers.Count == 0) throw new InvalidOperationException("The model has no adapted layers.");
        return layers;
    }
}
