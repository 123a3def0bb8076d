using System;
using System.Collections.Generic;
using System.Linq;

namespace SingLoRA.Pretrained;

/// <summary>
/// A pretrained checkpoint does not fit a model. <see cref="Problems"/> names every problem found (missing, unexpected,
/// wrongly shaped or typed tensors, merged layers, an unreadable file); the model was not changed.
/// </summary>
public sealed class PretrainedLoadException : Exception
{
    /// <summary>Creates the exception for the checkpoint described by <paramref name="source"/>.</summary>
    public PretrainedLoadException(string source, IReadOnlyList<string> problems, Exception? inner = null)
        : base(BuildMessage(source, problems), inner)
    {
        Checkpoint = source;
        Problems = problems;
    }

    /// <summary>The checkpoint: a file path, or "the state dict".</summary>
    public string Checkpoint { get; }

    /// <summary>Every problem found, one sentence each.</summary>
    public IReadOnlyList<string> Problems { get; }

    private static string BuildMessage(string source, IReadOnlyList<string> problems) =>
        $"Cannot load the pretrained weights from {source} ({problems.Count} problem{(problems.Count == 1 ? "" : "s")}; the model was not changed):"
        + string.Concat(problems.Select(p => Environment.NewLine + " - " + p));
}
