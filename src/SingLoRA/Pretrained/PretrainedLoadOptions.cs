using System;

namespace SingLoRA.Pretrained;

/// <summary>
/// How <see cref="PretrainedLoader.LoadPretrained(TorchSharp.torch.nn.Module, string, PretrainedLoadOptions?)"/> matches a
/// checkpoint's keys to the model's and what it tolerates. The defaults are strict: every key must match exactly, no
/// checkpoint key may be left over, and dtypes must agree.
/// </summary>
/// <remarks>
/// A checkpoint key is renamed in this order: <see cref="StripPrefix"/> is removed when the key starts with it (keys
/// without it are kept as they are, like a task head's <c>classifier.weight</c> next to <c>bert.encoder...</c>), then
/// <see cref="AddPrefix"/> is put in front, then <see cref="MapKey"/> (when set) gives the final model key, or null to
/// leave that checkpoint tensor out on purpose (it is listed in <see cref="PretrainedLoadReport.Skipped"/>).
/// </remarks>
public sealed record PretrainedLoadOptions
{
    /// <summary>The strict defaults.</summary>
    public static PretrainedLoadOptions Strict { get; } = new();

    /// <summary>A prefix to remove from checkpoint keys that start with it, for example <c>"bert."</c> or <c>"model."</c>.</summary>
    public string? StripPrefix { get; init; }

    /// <summary>A prefix to put in front of every checkpoint key (after <see cref="StripPrefix"/>), for example <c>"encoder."</c> when the pretrained model is a part of yours.</summary>
    public string? AddPrefix { get; init; }

    /// <summary>An explicit key map applied last: checkpoint key (after the prefixes) to model key, or null to leave the tensor out.</summary>
    public Func<string, string?>? MapKey { get; init; }

    /// <summary>
    /// When true, checkpoint tensors that match no model key are left out and listed in
    /// <see cref="PretrainedLoadReport.Unexpected"/>; when false (the default) each one is a problem.
    /// </summary>
    public bool AllowUnexpectedKeys { get; init; }

    /// <summary>
    /// When true, a floating-point checkpoint tensor whose dtype differs from the model's floating-point tensor is converted
    /// to the model's dtype (listed in <see cref="PretrainedLoadReport.Converted"/>); when false (the default) a dtype
    /// difference is a problem. Integer and boolean tensors are never converted.
    /// </summary>
    public bool ConvertDTypes { get; init; }
}
