using System;
using System.Runtime.CompilerServices;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA;

/// <summary>
/// The one record of what a call on a wrapped or deliberately plain <see cref="Linear"/> runs: its adapter, or the layer
/// itself when its module was built without adapters or they were unloaded. The generated interceptors of a
/// <c>Linear</c> target read it (a sealed <see cref="Linear"/> field cannot hold the adapter); every adapter kind writes
/// it when it wraps a layer, and unloading writes the plain layer back. Keyed weakly by the layer instance.
/// </summary>
internal static class LayerRoutes
{
    private static readonly ConditionalWeakTable<Linear, nn.Module<Tensor, Tensor>> s_routes = new();

    /// <summary>The adapter that wraps <paramref name="layer"/> now, or null (never wrapped, left plain, or unloaded).</summary>
    public static AdaptedLinear? AdapterOf(Linear layer) => s_routes.TryGetValue(layer, out var route) ? route as AdaptedLinear : null;

    /// <summary>What a call on <paramref name="layer"/> runs, or null when nothing decided it yet (its module has not registered it).</summary>
    public static nn.Module<Tensor, Tensor>? RouteOf(Linear layer) => s_routes.TryGetValue(layer, out var route) ? route : null;

    /// <summary>Records that <paramref name="adapter"/> wraps <paramref name="layer"/> (its constructor checked that no other adapter does).</summary>
    public static void Wrap(Linear layer, AdaptedLinear adapter) => s_routes.AddOrUpdate(layer, adapter);

    /// <summary>Records that calls on <paramref name="layer"/> run the plain layer (no adapter, by choice).</summary>
    public static void LeavePlain(Linear layer) => s_routes.AddOrUpdate(layer, layer);

    /// <summary>Forgets <paramref name="layer"/> entirely (an injection that was rolled back).</summary>
    public static void Forget(Linear layer) => s_routes.Remove(layer);
}
