using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;

namespace SingLoRA;

/// <summary>
/// Changes the options of <c>[SingLoRA]</c>-annotated modules built inside a scope, so that an app can take the
/// rank, alpha, ramp, dropout, scaling or init from its command line or a sweep while the attribute keeps the
/// defaults; or builds annotated modules without adapters, all of them or all but chosen layers of a stack. The
/// attribute's values are constants; this is the run-time way to change them.
/// </summary>
/// <example>
/// <code>
/// using (SingLoRAOverrides.Scope(o => o with { Rank = 16, RampLength = 50 }))
///     model = new Transformer(config);   // every annotated block created here gets rank 16, T = 50
/// using (SingLoRAOverrides.WithoutAdapters())
///     plain = new Transformer(config);   // the same classes with no adapter at all: a merged export loads into it
/// using (SingLoRAOverrides.Layers(20, 21, 22, 23))
///     model = new Transformer(config);   // only the last four blocks' attention is adapted (PEFT's layers_to_transform)
/// </code>
/// </example>
/// <remarks>
/// The change applies when a module creates its adapters (in <c>RegisterComponents()</c>), on the current thread
/// and async flow only; scopes nest, the inner change applied to the outer one's result. A change that returns null
/// builds the module without adapters: its targets stay plain <c>Linear</c> layers (no adapter keys, nothing to train;
/// generated calls on them run the plain layer). A <see cref="Layers(int[])"/> scope replaces the attribute's own
/// <see cref="SingLoRAAttribute.Layers"/> choice. The result is validated like any options. A module's
/// <see cref="ISingLoRAModule.SingLoRAOptions"/> reports the options it really used.
/// </remarks>
public static class SingLoRAOverrides
{
    // The active scopes, innermost first: each either changes the options or chooses layers.
    private static readonly AsyncLocal<Frame?> s_current = new();

    private sealed record Frame(Frame? Outer, Func<SingLoRAOptions, SingLoRAOptions?>? Change, Func<Type, int?, bool>? Chooses);

    /// <summary>
    /// Applies <paramref name="change"/> to the options of every annotated module built until the scope is disposed.
    /// Returning null builds that module without adapters.
    /// </summary>
    public static IDisposable Scope(Func<SingLoRAOptions, SingLoRAOptions?> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        return Push(change, null);
    }

    /// <summary>Builds every annotated module created until the scope is disposed without adapters (plain layers, the base model).</summary>
    public static IDisposable WithoutAdapters() => Push(_ => null, null);

    /// <summary>
    /// Adapts only the layers at <paramref name="indices"/> (0-based) of each annotated class built until the scope is
    /// disposed (PEFT's <c>layers_to_transform</c>); the others get no adapter at all. A class whose attribute names a
    /// <see cref="SingLoRAAttribute.LayerIndex"/> member is chosen by that member's value; any other class by construction
    /// order, counted per class from the start of the scope (for a stack built in a loop, the layer indices). The scope
    /// replaces the attribute's <see cref="SingLoRAAttribute.Layers"/>; nested <c>Layers</c> scopes must all choose a layer.
    /// </summary>
    public static IDisposable Layers(params int[] indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        if (indices.Any(i => i < 0)) throw new ArgumentOutOfRangeException(nameof(indices), "Layer indices start at 0.");
        var chosen = new HashSet<int>(indices);
        return ChooseLayers(chosen.Contains);
    }

    // A Layers scope: `chosen` decides by the module's declared layer index, or by its construction order in the scope,
    // counted per class (the type itself, not its name: two classes called Attention in two namespaces count apart).
    private static IDisposable ChooseLayers(Func<int, bool> chosen)
    {
        var built = new Dictionary<Type, int>();
        return Push(null, (owner, layerIndex) =>
        {
            int index;
            if (layerIndex is { } declared)
            {
                index = declared;
            }
            else
            {
                lock (built)
                {
                    index = built.TryGetValue(owner, out var n) ? n : 0;
                    built[owner] = index + 1;
                }
            }
            return chosen(index);
        });
    }

    /// <summary>
    /// The same with the layers written as the attribute's <see cref="SingLoRAAttribute.Layers"/> is: indices and inclusive
    /// ranges separated by commas, <c>"0-3, 8"</c>; what a command line or a config passes.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="layers"/> is not such a list (the message says what is wrong).</exception>
    public static IDisposable Layers(string layers)
    {
        ArgumentNullException.ThrowIfNull(layers);
        return ChooseLayers(SingLoRAConfig.ParseLayers(layers, nameof(layers)));
    }

    private static IDisposable Push(Func<SingLoRAOptions, SingLoRAOptions?>? change, Func<Type, int?, bool>? chooses)
    {
        var outer = s_current.Value;
        s_current.Value = new Frame(outer, change, chooses);
        return new Restore(outer);
    }

    /// <summary>
    /// The options a module of class <paramref name="ownerType"/> declared, with the active scopes' changes applied, or null
    /// when it is built without adapters. <paramref name="layerIndex"/> is the value of its <see cref="SingLoRAAttribute.LayerIndex"/>
    /// member (null when it names none) and <paramref name="attributeChooses"/> whether the attribute's
    /// <see cref="SingLoRAAttribute.Layers"/> includes it; an active <see cref="Layers(int[])"/> scope decides instead of the attribute.
    /// </summary>
    internal static SingLoRAOptions? Resolve(SingLoRAOptions declared, Type ownerType, int? layerIndex, bool attributeChooses)
    {
        ArgumentNullException.ThrowIfNull(declared);
        ArgumentNullException.ThrowIfNull(ownerType);
        var frames = new List<Frame>();
        for (var f = s_current.Value; f is not null; f = f.Outer) frames.Insert(0, f);

        // Every Layers scope counts this module (so construction order stays right), whatever the others decide.
        bool chosen = true, anyLayers = false;
        foreach (var f in frames)
        {
            if (f.Chooses is null) continue;
            anyLayers = true;
            chosen &= f.Chooses(ownerType, layerIndex);
        }
        if (!(anyLayers ? chosen : attributeChooses)) return null;

        SingLoRAOptions? options = declared;
        foreach (var f in frames)
        {
            if (f.Change is null) continue;
            options = f.Change(options);
            if (options is null) return null;
        }
        return options;
    }

    private sealed class Restore(Frame? outer) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            s_current.Value = outer;
        }
    }
}
