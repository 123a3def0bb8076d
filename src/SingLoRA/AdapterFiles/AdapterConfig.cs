using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace SingLoRA.AdapterFiles;

/// <summary>
/// The contents of <c>adapter_config.json</c>, in the spirit of PEFT's file of the same name (snake_case keys). The
/// <see cref="Targets"/> are authoritative; the top-level option fields summarise them and are null when the targets
/// disagree. Documented in <c>docs/adapter-format.md</c>.
/// </summary>
public sealed record AdapterConfig
{
    /// <summary>The format marker, always <see cref="FormatName"/>.</summary>
    public const string FormatName = "singlora-adapter";

    /// <summary>The format version this library writes and reads.</summary>
    /// <remarks>Version 2 names the ramp length <c>ramp_length</c>, as the options do (version 1 wrote <c>ramp_steps</c>).</remarks>
    public const int CurrentFormatVersion = 2;

    /// <summary>Always <c>singlora-adapter</c>.</summary>
    public string Format { get; init; } = FormatName;

    /// <summary>The format version (2).</summary>
    public int FormatVersion { get; init; } = CurrentFormatVersion;

    /// <summary><c>singlora</c>, <c>lora</c>, or <c>mixed</c> when the model has both kinds of adapted layer.</summary>
    public string Method { get; init; } = "singlora";

    /// <summary>The library that wrote the file (<c>SingLoRA.Gen</c>).</summary>
    public string Library { get; init; } = "SingLoRA.Gen";

    /// <summary>The library's version.</summary>
    public string LibraryVersion { get; init; } = "";

    /// <summary>
    /// The name of the adapter the file was saved from (<c>default</c> for a model with one adapter). Informational: the
    /// tensor names do not carry it, so a file loads into any adapter slot (<c>LoadAdapters(dir, adapterName: ...)</c>).
    /// </summary>
    public string AdapterName { get; init; } = SingLoRALinear.DefaultAdapterName;

    /// <summary>
    /// Paths of modules saved whole beside the adapters (PEFT's <c>modules_to_save</c>, e.g. a classification head): their
    /// parameters and persistent buffers are in the tensors file under their model keys (<c>head.weight</c>).
    /// </summary>
    public IReadOnlyList<string> ModulesToSave { get; init; } = new List<string>();

    /// <summary>The rank <c>r</c> shared by every target, or null. JSON <c>r</c> (PEFT's name).</summary>
    [JsonPropertyName("r")]
    public int? Rank { get; init; }

    /// <summary>The alpha shared by every target, or null.</summary>
    public double? Alpha { get; init; }

    /// <summary>The scaling rule shared by every target, or null.</summary>
    public ScalingRule? Scaling { get; init; }

    /// <summary>The ramp length <c>T</c> shared by every SingLoRA target, or null. JSON <c>ramp_length</c>.</summary>
    public long? RampLength { get; init; }

    /// <summary>The ramp step <c>t</c> shared by every SingLoRA target, or null.</summary>
    public long? Step { get; init; }

    /// <summary>The initialisation shared by every SingLoRA target, or null.</summary>
    public AdapterInit? Init { get; init; }

    /// <summary>The dropout shared by every target, or null.</summary>
    public double? Dropout { get; init; }

    /// <summary><c>unmerged</c>, <c>merged</c> (every target) or <c>partial</c>.</summary>
    public string MergeState { get; init; } = "unmerged";

    /// <summary>The adapted layers' paths, PEFT's <c>target_modules</c>.</summary>
    public IReadOnlyList<string> TargetModules { get; init; } = new List<string>();

    /// <summary>One entry per adapted layer, in model order.</summary>
    public IReadOnlyList<AdapterTarget> Targets { get; init; } = new List<AdapterTarget>();

    /// <summary>The tensors file next to this config.</summary>
    public string WeightsFile { get; init; } = AdapterFile.WeightsFileName;

    /// <summary>The SHA-256 (lowercase hex) of the tensors file, tying the pair together.</summary>
    public string WeightsSha256 { get; init; } = "";

    /// <summary>
    /// The file's configuration as a <see cref="SingLoRAConfig"/>: <see cref="TargetModules"/> as its targets, its modules to
    /// save, and the options every target shares (the precision is read from the dtypes: float32 adapters on a 16-bit base
    /// are <see cref="AdapterPrecision.AtLeastFloat32"/>).
    /// </summary>
    /// <exception cref="System.InvalidOperationException">The file is not a SingLoRA file, or its targets disagree on an option (then the
    /// summary field is absent; read <see cref="Targets"/> instead).</exception>
    public SingLoRAConfig ToSingLoRAConfig()
    {
        if (Method != "singlora")
            throw new System.InvalidOperationException($"This adapter file's method is '{Method}', not 'singlora'; its targets say how each layer was adapted.");
        if (Rank is not { } rank || Alpha is not { } alpha || Scaling is not { } scaling || Dropout is not { } dropout || RampLength is not { } ramp || Init is not { } init)
            throw new System.InvalidOperationException("This adapter file's targets do not share one set of options (a summary field such as r, alpha or ramp_length is absent); read each of its Targets instead.");
        bool sameAsBase = Targets.Any(t => t.AdapterDtype is { } a && t.Dtype is "BF16" or "F16" && a == t.Dtype);
        var options = new SingLoRAOptions(rank, alpha, ramp, dropout, scaling, init, sameAsBase ? AdapterPrecision.SameAsBase : AdapterPrecision.AtLeastFloat32);
        return new SingLoRAConfig(options) { Targets = TargetModules.ToList(), ModulesToSave = ModulesToSave.ToList() };
    }

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    };
}

/// <summary>One adapted layer in <see cref="AdapterConfig"/>.</summary>
public sealed record AdapterTarget
{
    /// <summary>The layer's dotted path in the model (<c>blocks.0.attn.q</c>); its tensors are <c>path.singlora_A</c>, ....</summary>
    public string Path { get; init; } = "";

    /// <summary><c>singlora</c> or <c>lora</c>.</summary>
    public string Kind { get; init; } = "singlora";

    /// <summary><c>d_in</c>.</summary>
    public long InFeatures { get; init; }

    /// <summary><c>d_out</c>.</summary>
    public long OutFeatures { get; init; }

    /// <summary>The base weight's dtype, as a safetensors name (<c>F32</c>, <c>BF16</c>, ...).</summary>
    public string Dtype { get; init; } = "";

    /// <summary>
    /// The dtype of the adapter's trainable tensors (<c>F32</c> on a 16-bit base by default: <see cref="AdapterPrecision"/>).
    /// Null in files written before it was recorded; the tensors file's dtypes are authoritative.
    /// </summary>
    public string? AdapterDtype { get; init; }

    /// <summary>The rank <c>r</c>.</summary>
    public int Rank { get; init; }

    /// <summary>The scaling numerator.</summary>
    public double Alpha { get; init; }

    /// <summary>The scaling rule.</summary>
    public ScalingRule Scaling { get; init; }

    /// <summary>The ramp length <c>T</c> (SingLoRA only). JSON <c>ramp_length</c>.</summary>
    public long? RampLength { get; init; }

    /// <summary>The ramp step <c>t</c> when saved (SingLoRA only; equals the saved <c>singlora_step</c> tensor).</summary>
    public long? Step { get; init; }

    /// <summary>The initialisation of <c>A</c> (SingLoRA only).</summary>
    public AdapterInit? Init { get; init; }

    /// <summary>The adapter-path dropout.</summary>
    public double Dropout { get; init; }

    /// <summary>Whether the update was folded into the base weight when saved.</summary>
    public bool Merged { get; init; }

    /// <summary>The factor the merged update was scaled by (<c>s · u(t)</c> at merge time), when merged.</summary>
    public double? MergedScale { get; init; }

    /// <summary>The layer's tensors: state-dict key (relative to the layer) to shape.</summary>
    public IReadOnlyDictionary<string, long[]> Tensors { get; init; } = new Dictionary<string, long[]>();
}
