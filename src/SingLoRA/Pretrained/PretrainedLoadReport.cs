using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace SingLoRA.Pretrained;

/// <summary>One tensor copied from the checkpoint into the model.</summary>
/// <param name="CheckpointKey">The key in the checkpoint.</param>
/// <param name="ModelKey">The model's state-dict key it was copied into.</param>
/// <param name="Shape">Its shape.</param>
/// <param name="DType">The model tensor's dtype (safetensors name, e.g. <c>F32</c>).</param>
/// <param name="ConvertedFrom">The checkpoint's dtype when it was converted, else null.</param>
public sealed record LoadedTensor(string CheckpointKey, string ModelKey, long[] Shape, string DType, string? ConvertedFrom);

/// <summary>What <see cref="PretrainedLoader.LoadPretrained(TorchSharp.torch.nn.Module, string, PretrainedLoadOptions?)"/> did.</summary>
public sealed class PretrainedLoadReport
{
    internal PretrainedLoadReport(string checkpoint, IReadOnlyList<LoadedTensor> loaded, IReadOnlyList<string> adapterKeys,
        IReadOnlyList<string> unexpected, IReadOnlyList<string> skipped)
    {
        Checkpoint = checkpoint;
        Loaded = loaded;
        AdapterKeys = adapterKeys;
        Unexpected = unexpected;
        Skipped = skipped;
    }

    /// <summary>The checkpoint: a file path, or "the state dict".</summary>
    public string Checkpoint { get; }

    /// <summary>Every tensor copied into the model (each of the model's base parameters and buffers), in the model's order.</summary>
    public IReadOnlyList<LoadedTensor> Loaded { get; }

    /// <summary>The model's adapter tensors (<c>*.singlora_A</c>, <c>*.singlora_step</c>, <c>*.lora_A</c>, <c>*.lora_B</c>), which a pretrained checkpoint does not have: left as they were.</summary>
    public IReadOnlyList<string> AdapterKeys { get; }

    /// <summary>Checkpoint keys that match no model tensor, left out because <see cref="PretrainedLoadOptions.AllowUnexpectedKeys"/> was set.</summary>
    public IReadOnlyList<string> Unexpected { get; }

    /// <summary>Checkpoint keys that <see cref="PretrainedLoadOptions.MapKey"/> mapped to null (left out on purpose).</summary>
    public IReadOnlyList<string> Skipped { get; }

    /// <summary>The loaded tensors whose dtype was converted (<see cref="PretrainedLoadOptions.ConvertDTypes"/>).</summary>
    public IReadOnlyList<LoadedTensor> Converted => Loaded.Where(t => t.ConvertedFrom is not null).ToList();

    /// <summary>The number of values copied.</summary>
    public long LoadedValues => Loaded.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));

    /// <summary>A few lines: counts, then the left-out and converted keys.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Loaded {Loaded.Count} tensors ({LoadedValues:N0} values) from {Checkpoint}; ");
        sb.Append(CultureInfo.InvariantCulture, $"{AdapterKeys.Count} adapter tensors kept as initialised; ");
        sb.Append(CultureInfo.InvariantCulture, $"{Unexpected.Count} unexpected and {Skipped.Count} skipped checkpoint tensors left out; {Converted.Count} converted.");
        if (Unexpected.Count > 0) sb.Append("\n  unexpected (left out): ").Append(string.Join(", ", Unexpected));
        if (Skipped.Count > 0) sb.Append("\n  skipped by the key map: ").Append(string.Join(", ", Skipped));
        foreach (var c in Converted) sb.Append(CultureInfo.InvariantCulture, $"\n  converted {c.CheckpointKey}: {c.ConvertedFrom} -> {c.DType}");
        return sb.ToString();
    }
}
