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
public static class SingLoRAModuleExtensions
{
    /// <summary>Every adapted layer (SingLoRA and LoRA) of the subtree, once each, with its (first) dotted path (<c>blocks.0.attn.q</c>).</summary>
    /// <exception cref="InvalidOperationException"><paramref name="model"/> is a <c>ModuleList</c> or <c>ModuleDict</c> whose
    /// items TorchSharp has not registered yet (it does when the module holding it calls <c>RegisterComponents()</c>), so
    /// no operation could see its adapters.</exception>
    public static IReadOnlyList<(string Path, AdaptedLinear Layer)> GetAdaptedLayers(this nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (UnregisteredItems(model) is > 0 and var items)
            throw new InvalidOperationException(
                $"This {ModuleSlot.TypeName(model.GetType())} holds {items} module(s) that TorchSharp has not registered: a ModuleList's or ModuleDict's items are " +
                "registered when the module that holds it calls RegisterComponents(), so until then named_modules(), parameters() and every SingLoRA operation " +
                "see none of them (an optimizer would get no adapter parameters). Hold the list in a module's field and call RegisterComponents() there, " +
                "then call this on that module.");
        var result = new List<(string, AdaptedLinear)>();
        var seen = new HashSet<AdaptedLinear>(ReferenceEqualityComparer.Instance);
        if (model is AdaptedLinear self && seen.Add(self)) result.Add(("", self));
        // TorchSharp's named_modules() lists a module registered twice under both paths; keep its first, so that a shared
        // layer is stepped, merged and saved once.
        foreach (var (name, module) in model.named_modules())
            if (module is AdaptedLinear layer && seen.Add(layer)) result.Add((name, layer));
        return result;
    }

    /// <summary>Every SingLoRA adapter of the subtree, with its dotted path.</summary>
    public static IReadOnlyList<(string Path, SingLoRALinear Adapter)> GetSingLoRALayers(this nn.Module model) =>
        model.GetAdaptedLayers().Where(x => x.Layer is SingLoRALinear).Select(x => (x.Path, (SingLoRALinear)x.Layer)).ToList();

    /// <summary>Counts one optimizer step on every SingLoRA adapter. Call it once per <c>optimizer.step()</c>, not per forward.</summary>
    public static void AdvanceRamp(this nn.Module model)
    {
        foreach (var (_, adapter) in model.GetSingLoRALayers()) adapter.AdvanceRamp();
    }

    /// <summary>Sets the ramp step of every SingLoRA adapter (for example when resuming a run).</summary>
    public static void SetRampStep(this nn.Module model, long step)
    {
        if (step < 0)
            throw new ArgumentOutOfRangeException(nameof(step), step, $"The ramp step counts optimizer steps and cannot be negative (got {step}).");
        foreach (var (_, adapter) in model.GetSingLoRALayers()) adapter.SetRampStep(step);
    }

    /// <summary>
    /// The ramp value <c>u(t)</c> of the model's SingLoRA adapters. Throws when there are none, or when they disagree
    /// (someone stepped one adapter alone). Reads device buffers: call it outside the training step.
    /// </summary>
    public static double RampValue(this nn.Module model)
    {
        var adapters = model.GetSingLoRALayers();
        if (adapters.Count == 0) throw new InvalidOperationException("The model has no SingLoRA adapters.");
        double first = adapters[0].Adapter.RampValue;
        foreach (var (path, adapter) in adapters)
            if (adapter.RampValue != first)
                throw new InvalidOperationException($"The adapters' ramps disagree: '{adapters[0].Path}' is at u = {first}, '{path}' at u = {adapter.RampValue}. Step the whole model with AdvanceRamp(), or realign with SetRampStep().");
        return first;
    }

    /// <summary>
    /// Switches the adapters of the model (or of the layers whose path <paramref name="where"/> selects) off until the
    /// returned scope is disposed: the model then computes exactly what its base computes (bit-identical: the adapted
    /// layers run the base layer's own <c>linear</c>), and the adapters keep their tensors and ramp steps. Scopes nest;
    /// disposing restores each layer's previous state. Throws, changing nothing, when a selected layer is merged.
    /// </summary>
    /// <example><code>using (model.DisableAdapters()) baseline = model.forward(x);</code></example>
    public static IDisposable DisableAdapters(this nn.Module model, Func<string, bool>? where = null)
    {
        var layers = RequireLayers(model).Where(l => where?.Invoke(l.Path) ?? true).ToList();
        var merged = layers.Where(l => l.Layer.IsMerged).Select(l => l.Path).ToList();
        if (merged.Count > 0)
            throw new InvalidOperationException($"Merged layers cannot be switched off (their weights hold the update): {string.Join(", ", merged)}. Call UnmergeAdapters() first.");
        var previous = layers.Select(l => (l.Layer, l.Layer.AdapterEnabled)).ToList();
        foreach (var (_, layer) in layers) layer.AdapterEnabled = false;
        return new RestoreEnabled(previous);
    }

    private sealed class RestoreEnabled(IReadOnlyList<(AdaptedLinear Layer, bool Enabled)> previous) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var (layer, enabled) in previous) if (!layer.IsMerged) layer.AdapterEnabled = enabled;
        }
    }

    /// <summary>
    /// Takes the adapters of the layers whose path <paramref name="where"/> selects (every adapted layer when null) out
    /// of the model, PEFT's <c>unload()</c>: each plain <see cref="Linear"/> goes back where its adapter was, so those
    /// layers have no adapter keys, no adapter parameters and compute exactly the base layer, as if the model had been built
    /// without them. The way to choose adapted layers by module path after construction (<c>p =&gt; !p.StartsWith("layers.0.")</c>).
    /// Works on <c>[SingLoRA]</c>-generated modules and on <see cref="RuntimeInjection.AddSingLoRA(nn.Module, IEnumerable{string}, SingLoRAOptions, bool)"/>'s
    /// adapters. The base weights stay as the adapter left them (frozen); every named adapter of a layer goes with it.
    /// All or nothing: every selected layer is checked before any is changed. Build the optimizer after unloading.
    /// </summary>
    /// <returns>The paths of the unloaded layers, in model order (empty when <paramref name="where"/> selects none).</returns>
    /// <exception cref="InvalidOperationException">A selected layer is merged (its weight holds the update: call
    /// <see cref="UnmergeAdapters"/> first), or cannot be unloaded (named in the message); nothing was changed.</exception>
    public static IReadOnlyList<string> UnloadAdapters(this nn.Module model, Func<string, bool>? where = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Unload(model, where, nameof(UnloadAdapters),
            layer => layer.IsMerged ? "it is merged (its weight holds the update; call UnmergeAdapters() first)" : null, before: null);
    }

    // Unloads the selected adapted layers, all or nothing: each is checked (`problemOf`, and whether its plain layer can be
    // put back) before any is changed; `before` runs on each layer just before the plain layers go back.
    private static IReadOnlyList<string> Unload(nn.Module model, Func<string, bool>? where, string operation,
        Func<AdaptedLinear, string?> problemOf, Action<AdaptedLinear>? before)
    {
        var layers = model.GetAdaptedLayers().Where(l => where?.Invoke(l.Path) ?? true).ToList();
        var problems = layers.Select(l => problemOf(l.Layer) is { } problem ? $"'{l.Path}': {problem}" : null).OfType<string>().ToList();
        var plans = RuntimeInjection.PlanUnloads(model, layers, problems);
        if (problems.Count > 0)
            throw new InvalidOperationException($"{operation} changed nothing: {string.Join("; ", problems)}.");
        if (before is not null) foreach (var (_, layer) in layers) before(layer);
        foreach (var (_, unload) in plans) unload();
        return layers.Select(l => l.Path).ToList();   // every selected layer had a plan, or a problem stopped above
    }

    /// <summary>
    /// Adds an adapter called <paramref name="adapterName"/> to every adapted layer, not active, with fresh tensors (for
    /// SingLoRA a new <c>A</c> and step 0; for LoRA a new <c>A</c> and a zero <c>B</c>). Its options are each layer's default
    /// adapter's, changed by <paramref name="change"/> when given (<c>o =&gt; o with { Rank = 16 }</c>; the change is written
    /// for SingLoRA's options, so a model with LoRA layers takes it only without one). All or nothing: every layer is
    /// checked before any changes.
    /// </summary>
    public static void AddAdapter(this nn.Module model, string adapterName, Func<SingLoRAOptions, SingLoRAOptions>? change = null)
    {
        AdaptedLinear.ValidateName(adapterName);
        var layers = RequireLayers(model);
        var plan = new List<(AdaptedLinear Layer, AdapterOptions Options)>();
        var problems = new List<string>();
        foreach (var (path, layer) in layers)
        {
            var current = layer.OptionsOf(AdaptedLinear.DefaultAdapterName);
            AdapterOptions options;
            if (change is null) options = current;
            else if (current is SingLoRAOptions singlora) options = change(singlora);
            else
            {
                problems.Add($"'{path}' is a {layer.Kind} layer, which the change (written for SingLoRA's options) cannot describe; add its adapter with {layer.GetType().Name}.AddAdapter");
                continue;
            }
            if (layer.AdapterNames.Contains(adapterName)) problems.Add($"'{path}' already has an adapter named '{adapterName}'");
            else if (Common.RankBound.Problem(options.Rank, layer.in_features, layer.out_features) is { } rankProblem) problems.Add($"'{path}' cannot take rank {options.Rank}: {rankProblem}");
            else if (options.Precision != layer.Precision) problems.Add($"'{path}' uses precision {layer.Precision}, not {options.Precision}");
            plan.Add((layer, options));
        }
        if (problems.Count > 0) throw new InvalidOperationException($"Adapter '{adapterName}' was not added, nothing changed: {string.Join("; ", problems)}.");
        foreach (var (layer, options) in plan) layer.AddAdapter(adapterName, options);
    }

    /// <summary>
    /// Makes <paramref name="adapterName"/> the active adapter of every adapted layer (the forward, merges, the ramp and
    /// training use it; the others' parameters stop requiring gradients). O(1) per layer: no tensor is copied.
    /// All or nothing: throws, changing nothing, when a layer lacks the adapter or is merged.
    /// </summary>
    public static void SetActiveAdapter(this nn.Module model, string adapterName)
    {
        var layers = RequireLayers(model);
        var problems = layers.Where(a => !a.Layer.AdapterNames.Contains(adapterName)).Select(a => $"'{a.Path}' has no adapter '{adapterName}'")
            .Concat(layers.Where(a => a.Layer.IsMerged && a.Layer.ActiveAdapter != adapterName).Select(a => $"'{a.Path}' is merged (unmerge first)")).ToList();
        if (problems.Count > 0) throw new InvalidOperationException($"Adapter '{adapterName}' was not activated, nothing changed: {string.Join("; ", problems)}.");
        foreach (var (_, layer) in layers) layer.SetActiveAdapter(adapterName);
    }

    /// <summary>Deletes the adapter <paramref name="adapterName"/> from every adapted layer that has it. It must not be active anywhere.</summary>
    public static void DeleteAdapter(this nn.Module model, string adapterName)
    {
        var layers = RequireLayers(model);
        var active = layers.Where(a => a.Layer.ActiveAdapter == adapterName).Select(a => a.Path).ToList();
        if (active.Count > 0) throw new InvalidOperationException($"'{adapterName}' is the active adapter of {string.Join(", ", active)}; activate another one (SetActiveAdapter) before deleting it.");
        if (!layers.Any(a => a.Layer.AdapterNames.Contains(adapterName))) throw new ArgumentException($"No layer has an adapter named '{adapterName}'.", nameof(adapterName));
        foreach (var (_, layer) in layers) if (layer.AdapterNames.Contains(adapterName)) layer.DeleteAdapter(adapterName);
    }

    /// <summary>The name of the active adapter, which every adapted layer shares (throws when they disagree or there are none).</summary>
    public static string ActiveAdapter(this nn.Module model)
    {
        var names = RequireLayers(model).Select(a => a.Layer.ActiveAdapter).Distinct().ToList();
        if (names.Count > 1)
            throw new InvalidOperationException($"The layers' active adapters disagree ({string.Join(", ", names)}); call model.SetActiveAdapter(name) to align them.");
        return names[0];
    }

    /// <summary>The adapter names present in the model, in the order the first layer holds them.</summary>
    public static IReadOnlyList<string> AdapterNames(this nn.Module model) =>
        RequireLayers(model).SelectMany(a => a.Layer.AdapterNames).Distinct().ToList();

    /// <summary>Activates <paramref name="adapterName"/> (see <see cref="SetActiveAdapter"/>), then merges every adapted layer.</summary>
    public static void MergeAdapters(this nn.Module model, string adapterName)
    {
        model.SetActiveAdapter(adapterName);
        model.MergeAdapters();
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
        var problems = new List<(string Path, string Reason)>();
        foreach (var (path, layer) in layers)
            if (!layer.CanMerge(out var reason)) problems.Add((path, reason));
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

    /// <summary>
    /// Folds the adapters of the layers <paramref name="where"/> selects (every adapted layer when null) into their base
    /// weights and takes them out, PEFT's <c>merge_and_unload()</c>: each layer becomes its plain <see cref="Linear"/> with
    /// <c>W0 + s·u(t)·ΔW</c> (the active adapter's update, computed in float32 or better and cast to the base dtype) as its
    /// weight. The model then has no adapter keys or parameters, computes what the adapted model computed (up to that one
    /// rounding), and its state dict loads into the same classes built without adapters. An already merged layer keeps
    /// its merged weight. All or nothing: every selected layer is checked first (the merged weight must be finite, and
    /// every place that holds the adapter must take a plain <see cref="Linear"/>); on a problem nothing changes.
    /// </summary>
    /// <returns>The paths of the merged and unloaded layers, in model order.</returns>
    /// <exception cref="InvalidOperationException">A selected layer cannot be merged or unloaded (named in the message); nothing was changed.</exception>
    public static IReadOnlyList<string> MergeAndUnload(this nn.Module model, Func<string, bool>? where = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        return Unload(model, where, nameof(MergeAndUnload),
            layer => !layer.IsMerged && !layer.CanMerge(out var reason) ? reason : null,
            before: layer =>
            {
                if (!layer.IsMerged) layer.SafeMerge();
                layer.CommitMerge();
            });
    }

    /// <summary>
    /// Gives every <c>[SingLoRA]</c>-annotated module of the model new adapters made as <paramref name="config"/> says, in place
    /// of those the attribute (or a scope) made when it was built: explicitly, with no ambient state, the run-time way to take
    /// the rank, the ramp, the targets or the layers from a command line or a sweep. <see cref="SingLoRAConfig.Targets"/>
    /// chooses among the annotated classes' attribute targets by module-path pattern, model-wide like PEFT's
    /// <c>target_modules</c> (<c>"q"</c>, <c>"blocks.0.attn.q"</c>, <c>"blocks.*.attn.q"</c>; empty: all of them); <see cref="SingLoRAConfig.Layers"/> chooses layers
    /// by each class's <c>LayerIndex</c> member (null: the attribute's choice). The new adapters start fresh (a new
    /// <c>A</c>, ramp step 0) and keep the layers' train/eval mode; base weights do not change. All or nothing: every module
    /// is checked first (unknown targets, Layers without a LayerIndex, merged layers, named adapters that would be dropped,
    /// a rank a layer cannot take, a module to save that is missing or holds adapted layers). <see cref="SingLoRAConfig.ModulesToSave"/>
    /// are recorded on <paramref name="model"/>: <see cref="FreezeAllButAdapters"/> keeps them trainable and
    /// <c>SaveAdapters</c> saves them whole. Build the optimizer afterwards.
    /// </summary>
    /// <returns>The paths of the adapted layers, in model order.</returns>
    /// <exception cref="InvalidOperationException">The model has no annotated module, or a problem was found (all named); nothing was changed.</exception>
    public static IReadOnlyList<string> ApplySingLoRA(this nn.Module model, SingLoRAConfig config)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        var annotated = model.named_modules().Prepend(("", model))
            .Select(m => (Path: m.Item1, Module: m.Item2, Descriptor: (m.Item2 as ISingLoRAModule)?.Descriptor))
            .Where(m => m.Descriptor is not null).DistinctBy(m => m.Module, ReferenceEqualityComparer.Instance).ToList();
        if (annotated.Count == 0)
            throw new InvalidOperationException("ApplySingLoRA found no [SingLoRA]-annotated module in the model; use AddSingLoRA(config) to adapt a model by module path.");
        // Targets are module-path patterns, as for AddSingLoRA: "q" matches the field q of every class, "blocks.0.attn.q"
        // one layer, "blocks.*.attn.q" a segment wildcard; so the paths GetSingLoRAConfig reports apply again.
        var patterns = config.Targets.Select((t, i) => ModulePathPattern.Parse(t, i)).ToList();
        static string FullPath(string modulePath, string field) => modulePath.Length == 0 ? field : modulePath + "." + field;
        Func<string, bool> ChosenIn(string modulePath) => field => patterns.Count == 0 || patterns.Any(p => p.Matches(FullPath(modulePath, field)));
        var chosen = annotated.Select(m => ChosenIn(m.Path)).ToList();
        var targetPaths = annotated.SelectMany(m => m.Descriptor!.TargetNames.Select(f => FullPath(m.Path, f))).ToList();
        var known = annotated.SelectMany(m => m.Descriptor!.TargetNames).Distinct().ToList();
        var problems = patterns.Where(p => !targetPaths.Any(p.Matches)).Select(p =>
                $"target '{p.Text}' matches no [SingLoRA] target of the model (the annotated classes' targets are {string.Join(", ", known.Select(n => $"'{n}'"))}; a config chooses among them by field name or module path, it cannot add fields)")
            .Concat(annotated.SelectMany((m, i) => m.Descriptor!.ProblemsApplying(m.Module, config, chosen[i]).Select(p => m.Path.Length == 0 ? p : $"'{m.Path}': {p}")))
            .Concat(ModulesToSave.Problems(model, config.ModulesToSave, AdaptedAfter()))
            .ToList();
        // The layers adapted afterwards: the chosen targets of the annotated modules, and adapters put in elsewhere (AddSingLoRA).
        HashSet<string> AdaptedAfter() => annotated.SelectMany((m, i) => m.Descriptor!.TargetNames.Where(chosen[i]).Select(f => FullPath(m.Path, f)))
            .Concat(model.GetAdaptedLayers().Select(l => l.Path).Except(targetPaths)).ToHashSet(StringComparer.Ordinal);
        if (problems.Count > 0)
            throw new InvalidOperationException($"ApplySingLoRA changed nothing: {string.Join("; ", problems)}.");
        for (int i = 0; i < annotated.Count; i++) annotated[i].Descriptor!.Apply(annotated[i].Module, config, chosen[i]);
        ModulesToSave.Record(model, config.ModulesToSave);
        return model.GetSingLoRALayers().Select(l => l.Path).ToList();
    }

    /// <summary>
    /// The configuration the model's SingLoRA layers have now, as one <see cref="SingLoRAConfig"/>: their paths as
    /// <see cref="SingLoRAConfig.Targets"/>, their active adapter's options and the modules to save that the config given to
    /// <c>ApplySingLoRA</c> or <c>AddSingLoRA</c> named (PEFT's <c>peft_config</c>).
    /// </summary>
    /// <exception cref="InvalidOperationException">The model has no SingLoRA layers, or their options differ (named).</exception>
    public static SingLoRAConfig GetSingLoRAConfig(this nn.Module model)
    {
        var layers = RequireAdapters(model);
        var distinct = layers.Select(l => l.Adapter.Options).Distinct().ToList();
        if (distinct.Count > 1)
            throw new InvalidOperationException($"The model's SingLoRA layers have {distinct.Count} different options ({string.Join("; ", distinct)}); one config cannot describe them. Read each layer's Options instead.");
        return new SingLoRAConfig(distinct[0]) { Targets = layers.Select(l => l.Path).ToList(), ModulesToSave = ModulesToSave.Of(model) };
    }

    /// <summary>
    /// Freezes every parameter of the model and makes the adapters' own parameters trainable, and those of the modules to
    /// save that the config given to <c>ApplySingLoRA</c> or <c>AddSingLoRA</c> named (PEFT's <c>modules_to_save</c>, such as a
    /// classification head).
    /// </summary>
    public static void FreezeAllButAdapters(this nn.Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        foreach (var p in model.parameters()) p.requires_grad = false;
        foreach (var p in model.AdapterParameters()) p.requires_grad = true;
        foreach (var p in ModulesToSave.Parameters(model)) p.requires_grad = true;
    }

    /// <summary>The adapters' trainable parameters (SingLoRA's <c>A</c>, LoRA's <c>A</c> and <c>B</c>), for the optimizer.</summary>
    public static IEnumerable<Parameter> AdapterParameters(this nn.Module model) =>
        model.GetAdaptedLayers().SelectMany(l => l.Layer.AdapterParameters).ToList();

    /// <summary>Trainable and total parameter counts, as PEFT's <c>print_trainable_parameters</c> reports them.</summary>
    public static ParameterSummary CountParameters(this nn.Module model) => ParameterSummary.Of(model);

    private static IReadOnlyList<(string Path, SingLoRALinear Adapter)> RequireAdapters(nn.Module model)
    {
        var adapters = model.GetSingLoRALayers();
        if (adapters.Count == 0) throw new InvalidOperationException("The model has no SingLoRA adapters.");
        return adapters;
    }

    // The number of items of a ModuleList or ModuleDict that holds some but has registered none; 0 otherwise.
    private static int UnregisteredItems(nn.Module model)
    {
        if (TorchSharpInternals.ListElementType(model) is null && TorchSharpInternals.DictElementType(model) is null) return 0;
        int count = model.GetType().GetProperty("Count")?.GetValue(model) is int n ? n : 0;
        return count > 0 && TorchSharpInternals.Submodules(model).Count == 0 ? count : 0;
    }

    private static IReadOnlyList<(string Path, AdaptedLinear Layer)> RequireLayers(nn.Module model)
    {
        var layers = model.GetAdaptedLayers();
        if (layers.Count == 0) throw new InvalidOperationException("The model has no adapted layers.");
        return layers;
    }
}
