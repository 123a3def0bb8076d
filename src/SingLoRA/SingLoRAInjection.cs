using System;
using System.Collections.Generic;
using System.Linq;
using System.Runtime.CompilerServices;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace SingLoRA;

/// <summary>
/// The runtime half of the generated code: wraps a target layer of an annotated module and puts the adapter where
/// the layer was registered, so the state-dict keys of the base weights do not change. Not meant to be called by hand.
/// </summary>
[System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
public static class SingLoRAInjection
{
    // Layers that a SingLoRAOverrides scope deliberately left without an adapter: the interceptors run them as they are.
    private static readonly ConditionalWeakTable<Linear, string> s_leftPlain = new();

    /// <summary>
    /// Wraps the <see cref="Linear"/> held by the field <paramref name="fieldName"/> of <paramref name="ownerType"/> and
    /// replaces its registration in <paramref name="submodules"/> (found by reference, keeping its name and order).
    /// </summary>
    /// <returns>The adapter, or null when <paramref name="options"/> is null (a <see cref="SingLoRAOverrides"/> scope builds
    /// the module without adapters): the layer then stays as it is, and its intercepted calls run it.</returns>
    /// <exception cref="InvalidOperationException">The field is null, holds something other than a <see cref="Linear"/>, or was never registered.</exception>
    public static SingLoRALinear? Inject(OrderedDict<string, nn.Module> submodules, string ownerType, string fieldName, object? fieldValue, SingLoRAOptions? options)
    {
        ArgumentNullException.ThrowIfNull(submodules);
        var linear = fieldValue switch
        {
            Linear l => l,
            SingLoRALinear => throw new InvalidOperationException($"{ownerType}.{fieldName} is already a SingLoRA adapter; the adapters were created twice."),
            null => throw new InvalidOperationException($"{ownerType}.{fieldName} is null when RegisterComponents() runs. Create the layer (for example `{fieldName} = Linear(d_in, d_out)`) before calling RegisterComponents()."),
            _ => throw new InvalidOperationException($"{ownerType}.{fieldName} holds a {fieldValue.GetType().Name}; [SingLoRA] can adapt only TorchSharp Linear layers. Remove '{fieldName}' from Targets or make it a Linear."),
        };
        int index = -1;
        for (int i = 0; i < submodules.Count; i++)
            if (ReferenceEquals(submodules[i].Item2, linear)) { index = i; break; }
        if (index < 0)
            throw new InvalidOperationException($"{ownerType}.{fieldName} is not registered as a submodule. Call RegisterComponents() at the end of the constructor (TorchSharp's usual pattern) so SingLoRA can wrap it.");
        if (options is null)
        {
            s_leftPlain.AddOrUpdate(linear, ownerType + "." + fieldName);
            return null;
        }
        SingLoRALinear adapter;
        try
        {
            adapter = new SingLoRALinear(linear, options);
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"[SingLoRA] on {ownerType} cannot adapt '{fieldName}': {e.Message}", e);
        }
        submodules[index] = (submodules[index].Item1, adapter);
        return adapter;
    }

    /// <summary>
    /// What a call on a <c>Linear</c> target runs (the generated interceptors call this): the adapter that wraps
    /// <paramref name="layer"/>, or the layer itself when its module was built without adapters.
    /// </summary>
    /// <exception cref="InvalidOperationException">The layer was not wrapped: its module has not called RegisterComponents()
    /// yet, or the field was given a new Linear after it did.</exception>
    public static nn.Module<Tensor, Tensor> Route(Linear layer, string ownerType, string fieldName) =>
        (nn.Module<Tensor, Tensor>?)SingLoRALinear.Wrapping(layer) ?? (s_leftPlain.TryGetValue(layer, out _) ? layer : throw new InvalidOperationException(
            $"The Linear in {ownerType}.{fieldName} has no SingLoRA adapter, so this call cannot be adapted. Either {ownerType} has not called " +
            $"RegisterComponents() yet (call it at the end of the constructor), or '{fieldName}' was assigned a new Linear after RegisterComponents() " +
            $"wrapped the one that was there (adapters wrap the layer present at registration): create '{fieldName}' before RegisterComponents() " +
            "and do not reassign it, or copy new weights into it (q.weight.copy_(...)) instead."));

    /// <summary>
    /// Takes the adapter <paramref name="adapter"/> of the field <paramref name="fieldName"/> of <paramref name="ownerType"/> out
    /// again (what the generated <c>ISingLoRAModule.UnloadTarget</c> calls): its plain layer takes its place (and name) among
    /// <paramref name="submodules"/>, and intercepted calls run the plain layer from now on.
    /// </summary>
    /// <returns>The plain layer, for the generated code to put back into a field that held the adapter.</returns>
    /// <exception cref="InvalidOperationException">The adapter is merged (its base weight holds the update), or is not registered in the module.</exception>
    public static Linear Unload(OrderedDict<string, nn.Module> submodules, string ownerType, string fieldName, SingLoRALinear adapter)
    {
        ArgumentNullException.ThrowIfNull(submodules);
        ArgumentNullException.ThrowIfNull(adapter);
        if (adapter.IsMerged)
            throw new InvalidOperationException($"{ownerType}.{fieldName} is merged: its weight holds the update, so unloading the adapter would keep it silently. Call UnmergeAdapters() first.");
        int index = -1;
        for (int i = 0; i < submodules.Count; i++)
            if (ReferenceEquals(submodules[i].Item2, adapter)) { index = i; break; }
        if (index < 0)
            throw new InvalidOperationException($"The adapter of {ownerType}.{fieldName} is no longer registered in its module (its registration was replaced by hand), so it cannot be unloaded.");
        var layer = adapter.Base;
        submodules[index] = (submodules[index].Item1, layer);
        SingLoRALinear.Release(layer);
        s_leftPlain.AddOrUpdate(layer, ownerType + "." + fieldName);
        return layer;
    }

    /// <summary>The adapters that exist, by field name, in declaration order (what the generated <c>Adapters</c> returns).</summary>
    public static IReadOnlyList<KeyValuePair<string, SingLoRALinear>> Present(params KeyValuePair<string, SingLoRALinear?>[] adapters) =>
        adapters.Where(a => a.Value is not null).Select(a => new KeyValuePair<string, SingLoRALinear>(a.Key, a.Value!)).ToList();

    /// <summary>The error for an adapter that is used before it exists.</summary>
    public static InvalidOperationException NotCreated(string ownerType, string fieldName) =>
        new($"{ownerType}.{fieldName} has no SingLoRA adapter: either the module has not called RegisterComponents() yet (adapters are created there; call it at the end of {ownerType}'s constructor), " +
            "or it has none by choice: it was built without adapters (the attribute's Layers, or a SingLoRAOverrides.WithoutAdapters() or Layers(...) scope, left it out) " +
            "or UnloadAdapters() took them out.");
}
