using System;
using TorchSharp;
using static TorchSharp.torch;

namespace SingLoRA.Samples;

/// <summary>
/// A synthetic sequence task: random tokens <c>x</c> over a vocabulary of <see cref="Vocab"/>, and at every position
/// <c>i ≥ Offset</c> the target is the token <see cref="Offset"/> places back, <c>y_i = x_{i - Offset}</c> (earlier
/// positions are ignored). Offset 1 ("previous token") is the pre-training task; offset 2 ("skip one") is the related
/// fine-tuning task: the model must move its attention one position further back, which is exactly what adapting the
/// query and key projections can do.
/// </summary>
public sealed record CopyTask(int Vocab, int Length, int Offset)
{
    /// <summary>The target value of positions that the loss ignores.</summary>
    public const long Ignore = -100;

    /// <summary>A batch drawn from <paramref name="generator"/> (on the CPU, so every device sees the same data), moved to <paramref name="device"/>.</summary>
    public (Tensor X, Tensor Y) Sample(int batch, Generator generator, Device device)
    {
        using var scope = NewDisposeScope();
        var x = randint(0, Vocab, new long[] { batch, Length }, dtype: ScalarType.Int64, generator: generator);
        var y = full(new long[] { batch, Length }, Ignore, dtype: ScalarType.Int64);
        y.narrow(1, Offset, Length - Offset).copy_(x.narrow(1, 0, Length - Offset));
        return (x.to(device).MoveToOuterDisposeScope(), y.to(device).MoveToOuterDisposeScope());
    }

    /// <summary>Cross-entropy over the positions that have a target (logits <c>[B, L, V]</c>).</summary>
    public static Tensor Loss(Tensor logits, Tensor y) =>
        nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), y.reshape(-1), ignore_index: Ignore);

    /// <summary>Token accuracy over the positions that have a target, as a 0-d tensor (no host read).</summary>
    public static Tensor Accuracy(Tensor logits, Tensor y)
    {
        var mask = y.ne(Ignore);
        var correct = logits.argmax(-1).eq(y).logical_and(mask);
        return correct.sum().to_type(ScalarType.Float32).div(mask.sum().to_type(ScalarType.Float32));
    }

    /// <summary>A short description, for logs.</summary>
    public override string ToString() => Offset switch
    {
        1 => $"previous token (y_i = x_(i-1)), vocab {Vocab}, length {Length}",
        _ => $"copy {Offset} back (y_i = x_(i-{Offset})), vocab {Vocab}, length {Length}",
    };
}
