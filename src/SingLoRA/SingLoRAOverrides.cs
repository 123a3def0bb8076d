using System;
using System.Collections.Generic;
using System.ComponentModel;
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
/// generated calls on them run the plain layer). The result is validated like any options. A module's
/// <see cref="ISingLoRAModule.SingLoRAOptions"/> reports the options it really used.
/// </remarks>
public static class SingLoRAOverrides
{
    private static readonly AsyncLocal<Func<SingLoRAOptions, string, SingLoRAOptions?>?> s_current = new();

    /// <summary>
    /// Applies <paramref name="change"/> to the options of every annotated module built until the scope is disposed.
    /// Returning null builds that module without adapters.
    /// </summary>
    public static IDisposable Scope(Func<SingLoRAOptions, SingLoRAOptions?> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        return Push((options, _) => change(options));
    }

    /// <summary>Builds every annotated module created until the scope is disposed without adapters (plain layers, the base model).</summary>
    public static IDisposable WithoutAdapters() => Push((_, _) => null);

    /// <summary>
    /// Adapts only the instances at <paramref name="indices"/> (0-based) of each annotated class built until the scope is
    /// disposed, counted in construction order per class: for a stack built in a loop, the layer indices (PEFT's
    /// <c>layers_to_transform</c>). The other instances get no adapter at all. Counting starts afresh in each scope.
    /// </summary>
    public static IDisposable Layers(params int[] indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        if (indices.Any(i => i < 0)) throw new ArgumentOutOfRangeException(nameof(indices), "Layer indices start at 0.");
        var chosen = new HashSet<int>(indices);
        var built = new Dictionary<string, int>(StringComparer.Ordinal);
        return Push((options, owner) =>
        {
            int index = built.TryGetValue(owner, out var n) ? n : 0;
            built[owner] = index + 1;
            return chosen.Contains(index) ? options : null;
        });
    }

    private static IDisposable Push(Func<SingLoRAOptions, string, SingLoRAOptions?> change)
    {
        var outer = s_current.Value;
        s_current.Value = outer is null ? change : (declared, owner) => outer(declared, owner) is { } o ? change(o, owner) : null;
        return new Restore(outer);
    }

    /// <summary>
    /// The options a module of class <paramref name="ownerType"/> declared, with the active scopes' changes applied, or null
    /// when a scope builds it without adapters. What the generated code calls; not meant to be called by hand.
    /// </summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static SingLoRAOptions? Apply(SingLoRAOptions declared, string ownerType)
    {
        ArgumentNullException.ThrowIfNull(declared);
        return s_current.Value is { } change ? change(declared, ownerType) : declared;
    }

    private sealed class Restore(Func<SingLoRAOptions, string, SingLoRAOptions?>? outer) : IDisposable
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
