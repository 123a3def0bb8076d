using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Linq;
using System.Reflection;
using System.Text.RegularExpressions;
using SingLoRA.Injection;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA;

/// <summary>
/// Adapts a model you do not own (compiled elsewhere, no <c>[SingLoRA]</c> attribute) at run time, by module path:
/// PEFT's <c>target_modules</c> for TorchSharp. Each matched <see cref="Linear"/> is replaced by a
/// <see cref="SingLoRALinear"/> in every place of the model that holds it, wherever the model really calls it through
/// such a place; anything that cannot be reached is reported, never silently left unadapted.
/// </summary>
/// <remarks>
/// <para>Reached: items of a <see cref="Sequential"/> (its <c>forward</c> calls them), items of a
/// <see cref="ModuleList{T}"/> or <see cref="ModuleDict{T}"/> whose element type can hold an adapter (the model iterates
/// or indexes them), and instance fields typed <c>Module&lt;Tensor, Tensor&gt;</c>, <c>nn.Module</c> or another type a
/// <see cref="SingLoRALinear"/> converts to (readonly or not). The registration in the parent's submodule dictionary is
/// replaced in place, keeping its name and order, so state-dict keys of the base weights stay <c>q_proj.weight</c>,
/// <c>q_proj.bias</c> and the adapter adds <c>q_proj.singlora_A</c>, <c>q_proj.singlora_step</c>.</para>
/// <para>Not reached, and reported (<see cref="SkipReason"/>): a layer held by a field typed <see cref="Linear"/> or a
/// <c>ModuleList&lt;Linear&gt;</c> (<see cref="Linear"/> is sealed, and compiled code that calls <c>fc.forward(x)</c>
/// cannot be redirected at run time), and a layer registered but held by nothing the runtime can see. A layer with
/// several holders is adapted only if every holder can take the adapter.</para>
/// <para>All or nothing: the whole plan is made and checked before the model is touched; if anything fails while the
/// adapters are put in, every change is undone and the model is exactly as it was.</para>
/// </remarks>
public static class RuntimeInjection
{
    /// <summary>
    /// Adapts every <see cref="Linear"/> whose module path matches one of <paramref name="targets"/> and returns what
    /// was adapted and what was not, and why.
    /// </summary>
    /// <param name="model">The model (any TorchSharp module, for example one loaded from a compiled library).</param>
    /// <param name="targets">
    /// Module-path patterns, matched like PEFT's <c>target_modules</c> list: a pattern matches a path that equals it or
    /// ends with <c>"." + pattern</c>, so <c>"q_proj"</c> matches <c>layers.0.attn.q_proj</c> and <c>"attn.q_proj"</c>
    /// matches it too. A <c>*</c> stands for any characters within one path segment: <c>"layers.*.q_proj"</c>,
    /// <c>"*_proj"</c>. Patterns are not regular expressions; use the predicate overload for anything else.
    /// </param>
    /// <param name="options">The adapter options of every adapted layer.</param>
    /// <param name="strict">
    /// When true, throw <see cref="SingLoRAInjectionException"/> listing every problem, and change nothing, if a
    /// matched module cannot be adapted or a pattern matches nothing. When false, adapt what can be adapted and report the rest.
    /// </param>
    /// <returns>The report: adapted layers with shape, rank and the places that now hold the adapter; skipped modules with the reason; unmatched patterns.</returns>
    /// <exception cref="ArgumentException">No targets, an empty or malformed pattern, or invalid options.</exception>
    /// <exception cref="SingLoRAInjectionException">Strict mode found a problem, or no layer at all could be adapted; the model is unchanged.</exception>
    [SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "The overloads differ in the type of a required parameter, so no call is ambiguous; the rule guards adding optional parameters to shipped overloads, and this is the surface as first frozen.")]
    public static SingLoRAInjectionReport AddSingLoRA(this nn.Module model, IEnumerable<string> targets, SingLoRAOptions options, bool strict = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(targets);
        return ByPatterns(model, targets, options, _ => true, strict, Array.Empty<string>());
    }

    /// <summary>
    /// Applies <paramref name="config"/> to a model you do not own: adapts every <see cref="Linear"/> whose path matches one
    /// of <see cref="SingLoRAConfig.Targets"/> (patterns as in the other overload) and, when <see cref="SingLoRAConfig.Layers"/>
    /// is set, whose layer index (the path's first numeric segment: <c>layers.3.attn.q_proj</c> is 3) it chooses, with
    /// <see cref="SingLoRAConfig.Options"/>. <see cref="SingLoRAConfig.ModulesToSave"/> are checked before anything changes and
    /// recorded on <paramref name="model"/>, as <c>ApplySingLoRA</c> does: <c>FreezeAllButAdapters</c> keeps them trainable and
    /// <c>SaveAdapters</c> saves them whole. Otherwise the same as the pattern overload.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="config">The configuration; its targets must name at least one pattern.</param>
    /// <param name="strict">When true, throw and change nothing if a matched module cannot be adapted or a pattern matches nothing.</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentException">The config is invalid or names no target, or a module to save is missing or holds adapted layers; the model is unchanged.</exception>
    /// <exception cref="SingLoRAInjectionException">Strict mode found a problem, or no layer at all could be adapted; the model is unchanged.</exception>
    [SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "The overloads differ in the type of a required parameter, so no call is ambiguous.")]
    public static SingLoRAInjectionReport AddSingLoRA(this nn.Module model, SingLoRAConfig config, bool strict = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        var chooses = config.ChoosesLayer;
        return ByPatterns(model, config.Targets, config.Options,
            path => config.Layers is null || SingLoRAConfig.LayerOfPath(path) is { } layer && chooses(layer), strict, config.ModulesToSave);
    }

    private static SingLoRAInjectionReport ByPatterns(nn.Module model, IEnumerable<string> targets, SingLoRAOptions options, Func<string, bool> layerChosen, bool strict,
        IReadOnlyList<string> modulesToSave)
    {
        var patterns = targets.Select((t, i) => ModulePathPattern.Parse(t, i)).ToList();
        if (patterns.Count == 0)
            throw new ArgumentException("Name at least one target: a module name such as \"q_proj\", a path such as \"layers.0.attn.q_proj\", or a pattern such as \"layers.*.q_proj\".", nameof(targets));
        var matched = new HashSet<ModulePathPattern>();
        bool Match(string path, nn.Module _)
        {
            bool any = false;
            foreach (var p in patterns)
                if (p.Matches(path)) { matched.Add(p); any = true; }
            return any && layerChosen(path);
        }
        return Inject(model, Match, () => patterns.Where(p => !matched.Contains(p)).Select(p => p.Text).Distinct().ToList(), options, strict, modulesToSave);
    }

    /// <summary>
    /// Adapts every <see cref="Linear"/> for whose path and module <paramref name="predicate"/> returns true (for example
    /// <c>(path, m) =&gt; m is Linear &amp;&amp; !path.StartsWith("lm_head")</c>, or a regular expression on the path).
    /// Otherwise the same as the pattern overload; a module the predicate selects that is not a <see cref="Linear"/> is reported.
    /// </summary>
    /// <param name="model">The model.</param>
    /// <param name="predicate">Called once per module path of <c>model.named_modules()</c>.</param>
    /// <param name="options">The adapter options of every adapted layer.</param>
    /// <param name="strict">When true, throw and change nothing if a selected module cannot be adapted.</param>
    /// <returns>The report.</returns>
    /// <exception cref="ArgumentException">Invalid options.</exception>
    /// <exception cref="SingLoRAInjectionException">Strict mode found a problem, or no layer at all could be adapted; the model is unchanged.</exception>
    [SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters", Justification = "The overloads differ in the type of a required parameter, so no call is ambiguous; the rule guards adding optional parameters to shipped overloads, and this is the surface as first frozen.")]
    public static SingLoRAInjectionReport AddSingLoRA(this nn.Module model, Func<string, nn.Module, bool> predicate, SingLoRAOptions options, bool strict = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(predicate);
        return Inject(model, predicate, Array.Empty<string>, options, strict, Array.Empty<string>());
    }

    /// <summary>Test seam: called with each layer's path while the adapters are being put in, so a test can fail the injection midway.</summary>
    internal static Action<string>? BeforePutForTests { get; set; }

    private sealed record Plan(string Path, Linear Layer, IReadOnlyList<ModuleSlot> Slots);

    private static SingLoRAInjectionReport Inject(nn.Module model, Func<string, nn.Module, bool> select, Func<IReadOnlyList<string>> unmatched, SingLoRAOptions options, bool strict,
        IReadOnlyList<string> modulesToSave)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        TorchSharpInternals.EnsureAvailable();

        var (modules, byPath, fields) = Scan(model);

        var plans = new List<Plan>();
        var skipped = new List<SkippedTarget>();
        var seen = new HashSet<nn.Module>(ReferenceEqualityComparer.Instance);
        foreach (var (path, module) in modules)
        {
            if (!select(path, module)) continue;
            if (!seen.Add(module)) continue;   // one instance under several paths is judged (and reported) once, at its first
            var (plan, skip) = PlanFor(path, module, modules, byPath, fields, options);
            if (plan is not null) plans.Add(plan);
            if (skip is not null) skipped.Add(skip);
        }

        var adapted = plans.Select(p => new InjectedLayer(p.Path, p.Layer.in_features, p.Layer.out_features, options.Rank,
            p.Slots.Where(s => s.CallsThrough).Select(s => s.Description).ToList())).ToList();
        var report = new SingLoRAInjectionReport(adapted, skipped, unmatched());
        if (plans.Count == 0)
            throw new SingLoRAInjectionException("AddSingLoRA found no layer it can adapt.", report);
        if (strict && !report.IsComplete)
            throw new SingLoRAInjectionException($"AddSingLoRA(strict: true) found {report.Problems.Count} problem(s).", report);
        var saveProblems = ModulesToSave.Problems(model, modulesToSave, plans.Select(p => p.Path).Concat(model.GetAdaptedLayers().Select(l => l.Path)).ToHashSet()).ToList();
        if (saveProblems.Count > 0)
            throw new ArgumentException($"AddSingLoRA changed nothing: the config's ModulesToSave do not fit the model: {string.Join("; ", saveProblems)}.", "config");

        Apply(plans, options);
        if (modulesToSave.Count > 0) ModulesToSave.Record(model, ModulesToSave.Of(model).Concat(modulesToSave).ToList());   // added to those of earlier calls
        return report;
    }

    private static (Plan?, SkippedTarget?) PlanFor(string path, nn.Module module, List<(string Path, nn.Module Module)> modules,
        Dictionary<string, nn.Module> byPath, Dictionary<nn.Module, List<FieldSlot>> fields, SingLoRAOptions options)
    {
        string type = ModuleSlot.TypeName(module.GetType());
        SkippedTarget Skip(SkipReason reason, string message) => new(path, type, reason, message);

        if (module is AdaptedLinear)
            return (null, Skip(SkipReason.AlreadyAdapted, "it is already an adapter."));
        if (module is not Linear layer)
        {
            var linears = modules.Where(m => m.Module is Linear && m.Path.StartsWith(path + ".", StringComparison.Ordinal)).Select(m => m.Path).Take(3).ToList();
            return (null, Skip(SkipReason.NotLinear, "only Linear layers can be adapted" +
                (linears.Count > 0 ? $"; name its Linear layers instead (for example {string.Join(", ", linears.Select(l => $"'{l}'"))}) or use the pattern '{path}.*'." : ".")));
        }
        if (AdaptedLinear.Wrapping(layer) is { } wrapper)
            return (null, Skip(SkipReason.AlreadyAdapted, $"a {wrapper.GetType().Name} already wraps this Linear."));
        if (LayerProblem(layer, options) is { } problem)
            return (null, Skip(SkipReason.InvalidForOptions, problem));

        var paths = modules.Where(m => ReferenceEquals(m.Module, layer)).Select(m => m.Path).ToList();
        var slots = SlotsOf(layer, paths, byPath, fields);
        var blocked = slots.Select(s => s.CannotHoldAdapter).OfType<string>().ToList();
        if (blocked.Count > 0)
            return (null, Skip(SkipReason.TypedAsLinear, string.Join("; ", blocked) + ". " +
                "If you own the source, type it as Module<Tensor, Tensor> (the field, or the list's element type) so that AddSingLoRA reaches it, or annotate the class with [SingLoRA], whose interceptors redirect calls on Linear fields at compile time."));
        if (paths.Count > 1)
            return (null, Skip(SkipReason.SharedModule,
                $"this one instance is registered under {paths.Count} paths ({string.Join(", ", paths.Select(p => $"'{p}'"))}); the model-level operations (GetSingLoRALayers, AdvanceRamp, MergeAdapters, SaveAdapters) walk named_modules() " +
                "and would treat its adapter as several, stepping its ramp once per path. Layers shared between registrations are not supported."));
        if (!slots.Any(s => s.CallsThrough))
            return (null, Skip(SkipReason.UnknownCaller,
                "it is registered, but no field, Sequential, ModuleList or ModuleDict of the model holds it, so how the model calls it cannot be seen " +
                "(for example it is kept in a List<Linear> or looked up by name); replacing only its registration would train an adapter the model never calls."));
        return (new Plan(path, layer, slots), null);
    }

    // The checks of AdaptedLinear's constructor (the rank bound is common/RankBound.cs for both), so a layer that would be refused is reported before anything changes.
    private static string? LayerProblem(Linear layer, SingLoRAOptions options)
    {
        long din = layer.in_features, dout = layer.out_features;
        if (din < 1 || dout < 1) return $"its shape [{dout}, {din}] has an empty dimension.";
        if (!torch.is_floating_point(layer.weight)) return $"its weight has dtype {layer.weight.dtype}; adapters need a floating-point layer.";
        if (Common.RankBound.Problem(options.Rank, din, dout) is { } rank)
            return $"{rank}; adapt it in a separate call with a rank of at most {Common.RankBound.MaxRank(din, dout)}.";
        return null;
    }

    /// <summary>
    /// How to take each of <paramref name="layers"/> out of <paramref name="model"/>, whoever put it in (the generated code of
    /// a <c>[SingLoRA]</c> module, AddSingLoRA, or the user by hand): write its plain layer into every place that holds the
    /// adapter (registrations, containers, fields, readonly ones included) and route intercepted calls to the plain layer.
    /// Nothing is changed here; a layer that cannot be unloaded is described in <paramref name="problems"/> instead.
    /// </summary>
    internal static List<(string Path, Action Unload)> PlanUnloads(nn.Module model, IReadOnlyList<(string Path, AdaptedLinear Layer)> layers, List<string> problems)
    {
        var plans = new List<(string, Action)>();
        if (layers.Count == 0) return plans;
        TorchSharpInternals.EnsureAvailable();
        var (modules, byPath, fields) = Scan(model);
        foreach (var (path, layer) in layers)
        {
            var paths = modules.Where(m => ReferenceEquals(m.Module, layer)).Select(m => m.Path).ToList();
            var slots = SlotsOf(layer, paths, byPath, fields);
            var blocked = slots.Where(s => !s.CanHold(typeof(Linear))).Select(s => s.Description).ToList();
            if (paths.Count == 0)
                problems.Add($"'{path}': the model itself is the adapter; there is no parent to put the plain layer back into (use its Base).");
            else if (blocked.Count > 0)
                problems.Add($"'{path}': {string.Join(", ", blocked)} cannot hold the plain Linear the adapter wraps; change its type or unload the adapter by hand.");
            else
                plans.Add((path, () =>
                {
                    foreach (var slot in slots) slot.Put(layer.Base);
                    LayerRoutes.LeavePlain(layer.Base);   // a generated interceptor now runs the plain layer
                }));
        }
        return plans;
    }

    // The model's modules by first path (the model itself is ""), and which fields of which modules hold each module.
    private static (List<(string Path, nn.Module Module)> Modules, Dictionary<string, nn.Module> ByPath, Dictionary<nn.Module, List<FieldSlot>> Fields) Scan(nn.Module model)
    {
        var modules = new List<(string Path, nn.Module Module)>();
        var byPath = new Dictionary<string, nn.Module>(StringComparer.Ordinal) { [""] = model };
        foreach (var (path, module) in model.named_modules())
            if (byPath.TryAdd(path, module)) modules.Add((path, module));
        return (modules, byPath, FieldHolders(modules.Prepend(("", model))));
    }

    // Every place that holds `layer`: its registrations (and container items) under each parent, and every field of any module of the tree.
    private static List<ModuleSlot> SlotsOf(nn.Module layer, List<string> paths, Dictionary<string, nn.Module> byPath, Dictionary<nn.Module, List<FieldSlot>> fields)
    {
        var slots = new List<ModuleSlot>();
        foreach (var path in paths)
        {
            int dot = path.LastIndexOf('.');
            string parentPath = dot < 0 ? "" : path[..dot];
            var parent = byPath[parentPath];
            if (parent is Sequential sequential)
            {
                var items = TorchSharpInternals.SequentialItems(sequential);
                for (int i = 0; i < items.Count; i++)
                    if (ReferenceEquals(items[i], layer)) slots.Add(new SequentialSlot(sequential, parentPath, i));
            }
            var submodules = TorchSharpInternals.Submodules(parent);
            for (int i = 0; i < submodules.Count; i++)
                if (ReferenceEquals(submodules[i].Item2, layer)) slots.Add(new RegistrationSlot(parent, parentPath, i));
            if (TorchSharpInternals.ListElementType(parent) is { } listElement)
                foreach (int i in TorchSharpInternals.ListIndicesOf(parent, listElement, layer))
                    slots.Add(new ContainerSlot(parent, listElement, parentPath, $"item {i}", m => TorchSharpInternals.SetListItem(parent, listElement, i, m)));
            if (TorchSharpInternals.DictElementType(parent) is { } dictElement)
                foreach (string key in TorchSharpInternals.DictKeysOf(parent, dictElement, layer))
                    slots.Add(new ContainerSlot(parent, dictElement, parentPath, $"key '{key}'", m => TorchSharpInternals.SetDictItem(parent, dictElement, key, m)));
        }
        if (fields.TryGetValue(layer, out var held)) slots.AddRange(held);
        return slots.DistinctBy(s => s.Key).ToList();
    }

    // One pass over every instance field (declared anywhere in the class hierarchy) of every module of the tree:
    // which fields hold which module.
    private static Dictionary<nn.Module, List<FieldSlot>> FieldHolders(IEnumerable<(string Path, nn.Module Module)> modules)
    {
        var holders = new Dictionary<nn.Module, List<FieldSlot>>(ReferenceEqualityComparer.Instance);
        var visited = new HashSet<nn.Module>(ReferenceEqualityComparer.Instance);
        foreach (var (path, owner) in modules)
        {
            if (!visited.Add(owner)) continue;
            for (var type = owner.GetType(); type is not null && type != typeof(nn.Module); type = type.BaseType)
                foreach (var field in type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                {
                    if (field.FieldType.IsValueType || field.GetValue(owner) is not nn.Module held) continue;
                    if (!holders.TryGetValue(held, out var list)) holders[held] = list = new List<FieldSlot>();
                    list.Add(new FieldSlot(owner, path, field));
                }
        }
        return holders;
    }

    // Creates every adapter, then writes each into every place that holds its layer. On any failure, writes the layers
    // back, restores the base tensors' requires_grad (the adapter's constructor freezes them) and forgets the adapters.
    private static void Apply(List<Plan> plans, SingLoRAOptions options)
    {
        var created = new List<(Linear Layer, bool WeightGrad, bool? BiasGrad, SingLoRALinear Adapter)>();
        var written = new List<(ModuleSlot Slot, Linear Layer)>();
        string current = plans[0].Path;
        try
        {
            foreach (var plan in plans)
            {
                current = plan.Path;
                var layer = plan.Layer;
                bool weightGrad = layer.weight.requires_grad;
                bool? biasGrad = layer.bias?.requires_grad;
                var adapter = new SingLoRALinear(layer, options);
                created.Add((layer, weightGrad, biasGrad, adapter));
                adapter.train(layer.training);   // a model in eval() gets adapters in eval() (no adapter dropout)
            }
            for (int i = 0; i < plans.Count; i++)
            {
                current = plans[i].Path;
                BeforePutForTests?.Invoke(current);
                foreach (var slot in plans[i].Slots)
                {
                    slot.Put(created[i].Adapter);
                    written.Add((slot, plans[i].Layer));
                }
            }
        }
        catch (Exception e)
        {
            var undoErrors = new List<string>();
            for (int i = written.Count - 1; i >= 0; i--)
                Try(() => written[i].Slot.Put(written[i].Layer), undoErrors);
            foreach (var (layer, weightGrad, biasGrad, _) in created)
                Try(() =>
                {
                    layer.weight.requires_grad = weightGrad;
                    if (biasGrad is { } b) layer.bias!.requires_grad = b;
                    LayerRoutes.Forget(layer);
                }, undoErrors);
            throw new InvalidOperationException(undoErrors.Count == 0
                ? $"AddSingLoRA failed while adapting '{current}': {e.Message} Every change was undone; the model is as it was."
                : $"AddSingLoRA failed while adapting '{current}': {e.Message} Undoing the changes failed too, so the model may be partly adapted: {string.Join(" ", undoErrors)}", e);
        }
    }

    private static void Try(Action undo, List<string> errors)
    {
        try
        {
            undo();
        }
        catch (Exception e)
        {
            errors.Add(e.Message);
        }
    }
}

/// <summary>A target pattern of <see cref="RuntimeInjection.AddSingLoRA(nn.Module, IEnumerable{string}, SingLoRAOptions, bool)"/>.</summary>
internal sealed class ModulePathPattern
{
    private readonly Regex _regex;

    private ModulePathPattern(string text, Regex regex)
    {
        Text = text;
        _regex = regex;
    }

    /// <summary>The pattern as the user wrote it.</summary>
    public string Text { get; }

    /// <summary>True when <paramref name="path"/> equals the pattern or ends with <c>"." + pattern</c>, <c>*</c> matching within a segment.</summary>
    public bool Matches(string path) => _regex.IsMatch(path);

    /// <summary>Parses one pattern; throws an <see cref="ArgumentException"/> that says what is wrong with it.</summary>
    public static ModulePathPattern Parse(string? text, int index)
    {
        const string Syntax = "A target is a module name or dotted path (\"q_proj\", \"attn.q_proj\", \"layers.0.attn.q_proj\") where * stands for any characters within one segment (\"layers.*.q_proj\", \"*_proj\"); it is not a regular expression (use the predicate overload for one).";
        if (string.IsNullOrWhiteSpace(text))
            throw new ArgumentException($"Target {index} is {(text is null ? "null" : "empty")}. {Syntax}", "targets");
        if (text.Trim() != text)
            throw new ArgumentException($"Target '{text}' starts or ends with white space; module paths never do. {Syntax}", "targets");
        var segments = text.Split('.');
        if (segments.Any(s => s.Length == 0))
            throw new ArgumentException($"Target '{text}' has an empty segment (a leading, trailing or doubled '.'). {Syntax}", "targets");
        string body = string.Join(@"\.", segments.Select(s => string.Join("[^.]*", s.Split('*').Select(Regex.Escape))));
        return new ModulePathPattern(text, new Regex($@"^(?:.*\.)?{body}$", RegexOptions.CultureInvariant));
    }
}
