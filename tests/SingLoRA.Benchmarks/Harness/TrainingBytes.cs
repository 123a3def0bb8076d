using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA.Benchmarks.Harness;

/// <summary>Bytes a training run holds for its trainable tensors: the parameters, their gradients and the optimizer state.</summary>
/// <param name="TrainableValues">Number of trainable values.</param>
/// <param name="ParameterBytes">Bytes of the trainable parameters.</param>
/// <param name="GradientBytes">Bytes of their gradients (after a backward).</param>
/// <param name="OptimizerStateBytes">Bytes of the optimizer's state tensors, counted from the optimizer itself.</param>
public sealed record TrainingBytes(long TrainableValues, long ParameterBytes, long GradientBytes, long OptimizerStateBytes)
{
    /// <summary>Parameters plus optimizer state: what issue 7 compares (gradients are transient and equal in size to the parameters).</summary>
    public long ParametersAndOptimizerState => ParameterBytes + OptimizerStateBytes;

    /// <summary>Counts exactly, from the tensors: every trainable parameter, its gradient, and every tensor in the optimizer's state.</summary>
    public static TrainingBytes Of(IReadOnlyCollection<Parameter> trainable, optim.Optimizer? optimizer)
    {
        long values = trainable.Sum(p => p.numel());
        long paramBytes = trainable.Sum(p => p.numel() * p.ElementSize);
        long gradBytes = trainable.Sum(p => p.grad is { } g ? g.numel() * g.ElementSize : 0);
        long stateBytes = 0;
        if (optimizer is not null)
        {
            var helper = optimizer as OptimizerHelper ?? throw new ArgumentException($"Cannot read the state of a {optimizer.GetType().Name}.", nameof(optimizer));
            var dict = helper.state_dict();
            foreach (var state in dict.State)
                stateBytes += TensorBytes(state);
        }
        return new TrainingBytes(values, paramBytes, gradBytes, stateBytes);
    }

    /// <summary>The analytic AdamW figure: parameters plus two moments, all float32 (<c>3 × 4</c> bytes per value).</summary>
    public static long AdamWFloat32(long trainableValues) => trainableValues * 4 * 3;

    private static long TensorBytes(object state)
    {
        long bytes = 0;
        const BindingFlags flags = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;
        for (var type = state.GetType(); type is not null && type != typeof(object); type = type.BaseType)
        {
            foreach (var field in type.GetFields(flags | BindingFlags.DeclaredOnly))
                // The state also points at its parameter (a Parameter field): that is counted as a parameter, not as state.
                if (typeof(Tensor).IsAssignableFrom(field.FieldType) && !typeof(Parameter).IsAssignableFrom(field.FieldType) && field.GetValue(state) is Tensor t && !t.IsInvalid)
                    bytes += t.numel() * t.ElementSize;
        }
        return bytes;
    }
}
