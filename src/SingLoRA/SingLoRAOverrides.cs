using System;
using System.Threading;

namespace SingLoRA;

/// <summary>
/// Changes the options of <c>[SingLoRA]</c>-annotated modules built inside a scope, so that an app can take the
/// rank, alpha, ramp, dropout, scaling or init from its command line or a sweep while the attribute keeps the
/// defaults. The attribute's values are constants; this is the run-time way to change them.
/// </summary>
/// <example>
/// <code>
/// using (SingLoRAOverrides.Scope(o => o with { Rank = 16, RampSteps = 50 }))
///     model = new Transformer(config);   // every annotated block created here gets rank 16, T = 50
/// </code>
/// </example>
/// <remarks>
/// The change applies when a module creates its adapters (in <c>RegisterComponents()</c>), on the current thread
/// and async flow only; scopes nest, the inner change applied to the outer one's result. The result is validated
/// like any options. A module's <see cref="ISingLoRAModule.SingLoRAOptions"/> reports the options it really used.
/// </remarks>
public static class SingLoRAOverrides
{
    private static readonly AsyncLocal<Func<SingLoRAOptions, SingLoRAOptions>?> s_current = new();

    /// <summary>Applies <paramref name="change"/> to the options of every annotated module built until the scope is disposed.</summary>
    public static IDisposable Scope(Func<SingLoRAOptions, SingLoRAOptions> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var outer = s_current.Value;
        s_current.Value = outer is null ? change : declared => change(outer(declared));
        return new Restore(outer);
    }

    /// <summary>The options a module declared, with the active scopes' changes applied (what the generated code calls).</summary>
    public static SingLoRAOptions Apply(SingLoRAOptions declared)
    {
        ArgumentNullException.ThrowIfNull(declared);
        var change = s_current.Value;
        return change is null ? declared : change(declared) ?? throw new InvalidOperationException("A SingLoRAOverrides scope returned null options.");
    }

    private sealed class Restore(Func<SingLoRAOptions, SingLoRAOptions>? outer) : IDisposable
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
