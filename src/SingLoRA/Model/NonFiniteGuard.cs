using System;
using System.Collections.Generic;
using System.Linq;
using TorchSharp;
using static TorchSharp.torch;

namespace SingLoRA;

/// <summary>
/// An optional training guard: after each optimizer step it records, on the device, whether the loss or any adapter
/// tensor became non-finite, and every <see cref="CheckEvery"/> steps it reads that record once and throws a
/// <see cref="NonFiniteTrainingException"/> naming the first bad step, instead of letting training go on with NaNs.
/// </summary>
/// <remarks>
/// Between checks nothing is read back to the host, so the guard adds no synchronisation to the training step; with
/// <c>checkEvery = 1</c> (the default) training stops at the very step that went bad.
/// </remarks>
/// <example>
/// <code>
/// var guard = new NonFiniteGuard(model);
/// for (...) { ...; optimizer.step(); model.AdvanceRamp(); guard.AfterStep(loss); }
/// </code>
/// </example>
public sealed class NonFiniteGuard : IDisposable
{
    private readonly IReadOnlyList<(string Path, AdaptedLinear Layer)> _layers;
    private readonly Tensor _firstBadStep;
    private long _step;

    /// <summary>Guards the adapters of <paramref name="model"/> (and the loss passed to <see cref="AfterStep"/>).</summary>
    /// <param name="model">The model being trained.</param>
    /// <param name="checkEvery">How many steps between host reads of the record; at least 1.</param>
    public NonFiniteGuard(nn.Module model, int checkEvery = 1)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (checkEvery < 1)
            throw new ArgumentOutOfRangeException(nameof(checkEvery), checkEvery, "checkEvery must be at least 1 (1 checks every step).");
        CheckEvery = checkEvery;
        _layers = model.GetAdaptedLayers();
        var device = _layers.Count > 0 ? _layers[0].Layer.weight.device : CPU;
        _firstBadStep = full(Array.Empty<long>(), -1L, dtype: ScalarType.Int64, device: device);
    }

    /// <summary>How many steps pass between host reads.</summary>
    public int CheckEvery { get; }

    /// <summary>The number of steps seen so far.</summary>
    public long Step => _step;

    /// <summary>
    /// Records step <see cref="Step"/> + 1: whether <paramref name="loss"/> and every adapter tensor are finite. Call
    /// it after <c>optimizer.step()</c>. Throws <see cref="NonFiniteTrainingException"/> at a check when a step went bad.
    /// </summary>
    public void AfterStep(Tensor loss)
    {
        ArgumentNullException.ThrowIfNull(loss);
        _step++;
        using (no_grad())
        using (NewDisposeScope())
        {
            var ok = loss.detach().isfinite().all().to(_firstBadStep.device);
            foreach (var (_, layer) in _layers)
                foreach (var p in layer.AdapterParameters)
                    ok = ok.logical_and(p.isfinite().all());
            var record = where(ok.logical_not().logical_and(_firstBadStep.lt(0)), tensor(_step, device: _firstBadStep.device), _firstBadStep);
            _firstBadStep.copy_(record);
        }
        if (_step % CheckEvery == 0) Check(loss);
    }

    /// <summary>Reads the record now (one host synchronisation) and throws if any step so far went bad.</summary>
    public void Check(Tensor? lastLoss = null)
    {
        long bad = _firstBadStep.item<long>();
        if (bad < 0) return;
        var culprits = new List<string>();
        if (lastLoss is not null && !lastLoss.isfinite().all().item<bool>()) culprits.Add("the loss");
        foreach (var (path, layer) in _layers)
            if (layer.AdapterParameters.Any(p => !p.isfinite().all().item<bool>()))
                culprits.Add($"adapter '{(path.Length == 0 ? layer.GetName() : path)}'");
        throw new NonFiniteTrainingException(bad, culprits);
    }

    /// <inheritdoc />
    public void Dispose() => _firstBadStep.Dispose();
}

/// <summary>Training produced a NaN or an infinity; <see cref="Step"/> is the first optimizer step where it was seen.</summary>
public sealed class NonFiniteTrainingException : Exception
{
    /// <summary>Creates the exception for the first bad step and what is non-finite now.</summary>
    public NonFiniteTrainingException(long step, IReadOnlyList<string> culprits)
        : base($"Training became non-finite at optimizer step {step}" +
               (culprits.Count > 0 ? $" (now non-finite: {string.Join(", ", culprits)})" : "") +
               ". Stopped instead of training on NaNs. Lower the learning rate, check the data for NaNs or infinities, or resume from the last good checkpoint.")
    {
        Step = step;
        Culprits = culprits;
    }

    /// <summary>The first optimizer step (1-based) at which the loss or an adapter was non-finite.</summary>
    public long Step { get; }

    /// <summary>What is non-finite at the time of the check.</summary>
    public IReadOnlyList<string> Culprits { get; }
}
