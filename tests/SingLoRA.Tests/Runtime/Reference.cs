using System;
using TorchSharp;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Runtime;

/// <summary>Explicit float64 computations of the method page's formulas, for comparison with the layers.</summary>
internal static class Reference
{
    /// <summary><c>y = x W0ᵀ + b + s·u·(x A_in) A_outᵀ</c>, everything in float64.</summary>
    public static Tensor SingLoRA(Tensor x, Tensor w0, Tensor? b, Tensor a, double scale, double u)
    {
        var x64 = x.to_type(ScalarType.Float64);
        var w = w0.to_type(ScalarType.Float64);
        var a64 = a.to_type(ScalarType.Float64);
        long dOut = w.shape[0], dIn = w.shape[1];
        var deltaW = a64[..(int)dOut].matmul(a64[..(int)dIn].t()); // [d_out, d_in]
        var y = x64.matmul((w + scale * u * deltaW).t());
        if (b is not null) y = y + b.to_type(ScalarType.Float64);
        return y;
    }

    /// <summary><c>y = x W0ᵀ + b + s·(x Aᵀ) Bᵀ</c>, everything in float64.</summary>
    public static Tensor LoRA(Tensor x, Tensor w0, Tensor? b, Tensor a, Tensor bMat, double scale)
    {
        var x64 = x.to_type(ScalarType.Float64);
        var deltaW = bMat.to_type(ScalarType.Float64).matmul(a.to_type(ScalarType.Float64));
        var y = x64.matmul((w0.to_type(ScalarType.Float64) + scale * deltaW).t());
        if (b is not null) y = y + b.to_type(ScalarType.Float64);
        return y;
    }

    /// <summary>True when both tensors have the same shape and every element is identical.</summary>
    public static bool Identical(Tensor a, Tensor b) =>
        a.shape.AsSpan().SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    /// <summary>‖actual − expected‖ / ‖expected‖ in float64.</summary>
    public static double RelativeError(Tensor actual, Tensor expected)
    {
        var e = expected.to_type(ScalarType.Float64);
        var diff = (actual.to_type(ScalarType.Float64) - e).norm().item<double>();
        return diff / Math.Max(e.norm().item<double>(), 1e-300);
    }
}
