using System;
using System.Collections.Generic;
using System.ComponentModel;
using System.Linq;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace SingLoRA.Generation;

/// <summary>
/// What model-level code needs of any annotated class's descriptor, whatever the class: applying a
/// <see cref="SingLoRAConfig"/> to one of its instances. Not meant to be used by hand.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public abstract class ModuleDescriptor
{
    private protected ModuleDescriptor()
    {
    }

    /// <summary>The class's attribute targets, in attribute order.</summary>
    internal abstract IReadOnlyList<string> TargetNames { get; }

    /// <summary>
    /// What stops <paramref name="config"/> from being applied to <paramref name="module"/>, with <paramref name="chosen"/>
    /// saying which of its targets (by field name) the config adapts; empty when nothing.
    /// </summary>
    internal abstract IReadOnlyList<string> ProblemsApplying(nn.Module module, SingLoRAConfig config, Func<string, bool> chosen);

    /// <summary>Replaces <paramref name="module"/>'s own adapters with new ones made as <paramref name="config"/> says on the <paramref name="chosen"/> targets (checked first with <see cref="ProblemsApplying"/>).</summary>
    internal abstract void Apply(nn.Module module, SingLoRAConfig config, Func<string, bool> chosen);
}

/// <summary>
/// One <c>[SingLoRA]</c>-annotated class as its generated code describes it to the runtime, by type rather than by
/// name: the attribute's options, the targets with typed access to their fields, and the layer-index accessor with the
/// attribute's choice of layers. The generated <c>RegisterComponents()</c> calls <see cref="Attach"/>, the typed adapter
/// properties call <see cref="AdapterOf"/>, <c>Adapters</c> calls <see cref="AdaptersOf"/>. Unloading needs nothing from
/// it: every adapter, generated or added at run time, is taken out by the same path
/// (<see cref="SingLoRAModuleExtensions.UnloadAdapters"/>). Not meant to be used by hand.
/// </summary>
/// <typeparam name="TModule">The annotated class.</typeparam>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class ModuleDescriptor<TModule> : ModuleDescriptor where TModule : nn.Module
{
    private readonly Func<TModule, int>? _layerIndex;
    private readonly Func<int, bool>? _adaptsLayer;
    private readonly TargetDescriptor<TModule>[] _targets;

    /// <summary>Describes the class.</summary>
    /// <param name="declared">The attribute's options.</param>
    /// <param name="layerIndex">Reads the member the attribute's <c>LayerIndex</c> names, or null when it names none.</param>
    /// <param name="adaptsLayer">The attribute's <c>Layers</c> as a test of a layer index, or null when it has none (every layer).</param>
    /// <param name="targets">The adapted fields, in attribute order.</param>
    public ModuleDescriptor(SingLoRAOptions declared, Func<TModule, int>? layerIndex, Func<int, bool>? adaptsLayer, params TargetDescriptor<TModule>[] targets)
    {
        ArgumentNullException.ThrowIfNull(declared);
        ArgumentNullException.ThrowIfNull(targets);
        Declared = declared;
        _layerIndex = layerIndex;
        _adaptsLayer = adaptsLayer;
        _targets = targets;
        DisplayName = TypeDisplay.Of(typeof(TModule));
    }

    /// <summary>The attribute's options (unset values take <see cref="SingLoRAOptions"/>' defaults).</summary>
    internal SingLoRAOptions Declared { get; }

    /// <summary>The adapted fields, in attribute order.</summary>
    public IReadOnlyList<TargetDescriptor<TModule>> Targets => _targets;

    /// <summary>The class as messages name it (<c>Encoder.Attention</c>, <c>Block&lt;LayerNorm&gt;</c>).</summary>
    internal string DisplayName { get; }

    /// <summary>
    /// Creates the adapters of <paramref name="module"/> (after TorchSharp registered its fields): resolves the options (the
    /// attribute's, the layer choice, and any <see cref="SingLoRAOverrides"/> scope), then wraps each target's
    /// <see cref="Linear"/> in a <see cref="SingLoRALinear"/> that takes its registration (same name and position, so the
    /// base keys stay <c>q.weight</c>) and, for a field that can hold it, the field. A module the options leave without
    /// adapters keeps its plain layers, and calls on them run plainly. Runs once per module: a second call changes nothing.
    /// </summary>
    /// <exception cref="InvalidOperationException">A target is null, holds something other than a <see cref="Linear"/>, is not
    /// registered, or does not fit the options (the rank above <c>min(d_in, d_out)</c>).</exception>
    public void Attach(TModule module)
    {
        ArgumentNullException.ThrowIfNull(module);
        if (_targets.Length == 0 || IsAttached(module)) return;

        int? index = _layerIndex?.Invoke(module);
        var options = SingLoRAOverrides.Resolve(Declared, typeof(TModule), index, AttributeChooses(index));
        AttachCore(module, options, _ => true);
    }

    // Wraps each chosen target's Linear with `options` (null: none of them), leaving the others plain. Every target is located
    // before anything changes; an adapter the layer cannot take (its rank, its dtype) throws naming the target, which callers
    // that change a built model rule out first (ProblemsApplying). The adapter takes the layer's registration through the same slot run-time
    // injection and unloading write (RegistrationSlot), and its field through the descriptor's typed writer.
    private void AttachCore(TModule module, SingLoRAOptions? options, Func<string, bool> chosen)
    {
        TorchSharpInternals.EnsureAvailable();
        var submodules = TorchSharpInternals.Submodules(module);
        var layers = new (Linear Layer, int Registration)[_targets.Length];
        for (int t = 0; t < _targets.Length; t++)
            layers[t] = Locate(_targets[t], _targets[t].Read(module), submodules);

        for (int t = 0; t < _targets.Length; t++)
        {
            var (layer, registration) = layers[t];
            if (options is null || !chosen(_targets[t].Name))
            {
                LayerRoutes.LeavePlain(layer);
                continue;
            }
            SingLoRALinear adapter;
            try
            {
                adapter = new SingLoRALinear(layer, options);
            }
            catch (ArgumentException e)
            {
                throw new InvalidOperationException($"[SingLoRA] on {DisplayName} cannot adapt '{_targets[t].Name}': {e.Message}", e);
            }
            adapter.train(layer.training);
            new RegistrationSlot(module, "", registration).Put(adapter);
            _targets[t].Write(module, adapter);
        }
    }

    /// <inheritdoc />
    internal override IReadOnlyList<string> TargetNames => _targets.Select(t => t.Name).ToList();

    /// <inheritdoc />
    internal override IReadOnlyList<string> ProblemsApplying(nn.Module module, SingLoRAConfig config, Func<string, bool> chosen)
    {
        var m = (TModule)module;
        var problems = new List<string>();
        if (config.Layers is not null && _layerIndex is null)
            problems.Add($"{DisplayName} names no LayerIndex member, so the config's Layers \"{config.Layers}\" cannot place it; name the member in the attribute (LayerIndex = nameof(layer_idx)) or leave Layers null");
        var own = AdaptersOf(m);
        foreach (var (name, adapter) in own)
        {
            if (adapter.IsMerged) problems.Add($"{DisplayName}.{name} is merged; call UnmergeAdapters() first");
            if (adapter.AdapterNames.Count > 1) problems.Add($"{DisplayName}.{name} holds named adapters ({string.Join(", ", adapter.AdapterNames)}) that a new config would drop; delete them first");
        }
        _ = RuntimeInjection.PlanUnloads(m, own.Select(a => (a.Key, (AdaptedLinear)a.Value)).ToList(), problems);   // every adapter can be taken out
        foreach (var target in _targets.Where(t => chosen(t.Name)))
        {
            var layer = target.Read(m) switch { SingLoRALinear a => a.Base, Linear l => l, _ => null };
            if (layer is not null && Common.RankBound.Problem(config.Options.Rank, layer.in_features, layer.out_features) is { } rank)
                problems.Add($"{DisplayName}.{target.Name}: {rank}");
        }
        return problems;
    }

    /// <inheritdoc />
    internal override void Apply(nn.Module module, SingLoRAConfig config, Func<string, bool> chosen)
    {
        var m = (TModule)module;
        var own = AdaptersOf(m).Select(a => (a.Key, (AdaptedLinear)a.Value)).ToList();
        var problems = new List<string>();
        var unloads = RuntimeInjection.PlanUnloads(m, own, problems);
        if (problems.Count > 0) throw new InvalidOperationException(string.Join("; ", problems));
        foreach (var (_, unload) in unloads) unload();

        int? index = _layerIndex?.Invoke(m);
        bool chosenLayer = index is { } i && config.Layers is not null ? config.ChoosesLayer(i) : AttributeChooses(index);
        AttachCore(m, chosenLayer ? config.Options : null, chosen);
    }

    // Whether the attribute's Layers adapt the module at `index` (every module of a class without a LayerIndex member).
    private bool AttributeChooses(int? index) => index is not { } i || _adaptsLayer is null || _adaptsLayer(i);

    /// <summary>The adapter of <paramref name="target"/> in <paramref name="module"/> (the typed property <c>QAdapter</c>).</summary>
    /// <exception cref="InvalidOperationException">It has none: not created yet, left out by choice, or unloaded.</exception>
    public SingLoRALinear AdapterOf(TModule module, TargetDescriptor<TModule> target)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(target);
        return Find(module, target) ?? throw new InvalidOperationException(
            $"{DisplayName}.{target.Name} has no SingLoRA adapter: either the module has not called RegisterComponents() yet (adapters are created there; call it at the end of {DisplayName}'s constructor), " +
            "or it has none by choice: it was built without adapters (the attribute's Layers, or a SingLoRAOverrides.WithoutAdapters() or Layers(...) scope, left it out) " +
            "or UnloadAdapters() took them out.");
    }

    /// <summary>The adapters <paramref name="module"/> has now, by field name, in attribute order (the generated <c>Adapters</c>).</summary>
    public IReadOnlyList<KeyValuePair<string, SingLoRALinear>> AdaptersOf(TModule module)
    {
        ArgumentNullException.ThrowIfNull(module);
        var result = new List<KeyValuePair<string, SingLoRALinear>>(_targets.Length);
        foreach (var target in _targets)
            if (Find(module, target) is { } adapter) result.Add(new(target.Name, adapter));
        return result;
    }

    /// <summary>
    /// The options <paramref name="module"/>'s adapters were created with (the default adapter's), or the attribute's when it
    /// has none (not registered yet, or built without adapters).
    /// </summary>
    public SingLoRAOptions OptionsOf(TModule module)
    {
        foreach (var target in _targets)
            if (Find(module, target) is { } adapter) return adapter.OptionsOf(AdaptedLinear.DefaultAdapterName);
        return Declared;
    }

    // The adapter of a target: the field holds it (a swapped field), or the field holds the Linear it wraps (a Linear field).
    private static SingLoRALinear? Find(TModule module, TargetDescriptor<TModule> target) => target.Read(module) switch
    {
        SingLoRALinear adapter => adapter,
        Linear layer => AdaptedLinear.Wrapping(layer) as SingLoRALinear,
        _ => null,
    };

    // Attached before: a target already holds an adapter, or its layer's calls were decided (adapted, left plain, unloaded).
    private bool IsAttached(TModule module) => _targets[0].Read(module) switch
    {
        AdaptedLinear => true,
        Linear layer => LayerRoutes.RouteOf(layer) is not null,
        _ => false,
    };

    private (Linear, int) Locate(TargetDescriptor<TModule> target, object? value, OrderedDict<string, nn.Module> submodules)
    {
        var layer = value switch
        {
            Linear l => l,
            null => throw new InvalidOperationException($"{DisplayName}.{target.Name} is null when RegisterComponents() runs. Create the layer (for example `{target.Name} = Linear(d_in, d_out)`) before calling RegisterComponents()."),
            _ => throw new InvalidOperationException($"{DisplayName}.{target.Name} holds a {value.GetType().Name}; [SingLoRA] can adapt only TorchSharp Linear layers. Remove '{target.Name}' from Targets or make it a Linear."),
        };
        for (int i = 0; i < submodules.Count; i++)
            if (ReferenceEquals(submodules[i].Item2, layer)) return (layer, i);
        throw new InvalidOperationException($"{DisplayName}.{target.Name} is not registered as a submodule. Call RegisterComponents() at the end of the constructor (TorchSharp's usual pattern) so SingLoRA can wrap it.");
    }
}

/// <summary>One adapted field of an annotated class, with typed access to it. Not meant to be used by hand.</summary>
/// <typeparam name="TModule">The annotated class.</typeparam>
[EditorBrowsable(EditorBrowsableState.Never)]
public sealed class TargetDescriptor<TModule> where TModule : nn.Module
{
    private readonly Func<TModule, object?> _read;
    private readonly Action<TModule, SingLoRALinear>? _write;

    /// <summary>Describes a field.</summary>
    /// <param name="name">The field name: the prefix of its state-dict keys (<c>q.weight</c>) and its name in messages.</param>
    /// <param name="read">Reads the field.</param>
    /// <param name="write">Writes the adapter into the field, or null for a field typed <see cref="Linear"/> (which cannot hold
    /// it: the generated interceptors route its calls instead).</param>
    public TargetDescriptor(string name, Func<TModule, object?> read, Action<TModule, SingLoRALinear>? write)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(read);
        Name = name;
        _read = read;
        _write = write;
    }

    /// <summary>The field name.</summary>
    public string Name { get; }

    internal object? Read(TModule module) => _read(module);

    internal void Write(TModule module, SingLoRALinear adapter) => _write?.Invoke(module, adapter);
}

/// <summary>What the generated interceptors of <c>Linear</c> targets call. Not meant to be used by hand.</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class InterceptedCalls
{
    /// <summary>
    /// What a call on the <c>Linear</c> target <paramref name="layer"/> runs: the adapter that wraps it, or the layer itself
    /// when its module was built without adapters or they were unloaded.
    /// </summary>
    /// <param name="layer">The receiver of the intercepted call.</param>
    /// <param name="target">The class and field, for the message (<c>SelfAttention.q</c>).</param>
    /// <exception cref="InvalidOperationException">Nothing decided the layer's calls: its module has not called
    /// RegisterComponents() yet, or the field was given a new Linear after it did.</exception>
    public static nn.Module<Tensor, Tensor> Route(Linear layer, string target) =>
        LayerRoutes.RouteOf(layer) ?? throw new InvalidOperationException(
            $"The Linear in {target} has no SingLoRA adapter, so this call cannot be adapted. Either the module has not called " +
            "RegisterComponents() yet (call it at the end of the constructor), or the field was assigned a new Linear after RegisterComponents() " +
            "wrapped the one that was there (adapters wrap the layer present at registration): create the layer before RegisterComponents() " +
            "and do not reassign it, or copy new weights into it (q.weight.copy_(...)) instead.");
}

/// <summary>A type's name as C# writes it, with its containing types: <c>Encoder.Attention</c>, <c>Block&lt;LayerNorm&gt;</c>.</summary>
internal static class TypeDisplay
{
    public static string Of(Type type)
    {
        var name = type.Name;
        int tick = name.IndexOf('`');
        if (tick >= 0) name = name[..tick];
        var own = type.GetGenericArguments().Skip(type.DeclaringType?.GetGenericArguments().Length ?? 0).ToList();
        if (own.Count > 0) name += $"<{string.Join(", ", own.Select(Of))}>";
        return type.DeclaringType is { } outer && !type.IsGenericParameter ? Of(outer) + "." + name : name;
    }
}
