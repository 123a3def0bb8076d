namespace SingLoRA.Common;

/// <summary>
/// Every SingLoRA diagnostic ID. The analyzers' descriptors (analyzers/SingLoRA.Analyzers/DiagnosticDescriptors.cs)
/// and the generator's (generator/SingLoRA.Generator/GeneratorDiagnostics.cs) use these, and the classifier names the
/// ID that explains each thing it skips. Each ID has a page at <c>docs/diagnostics/&lt;ID&gt;.md</c>.
/// </summary>
internal static class DiagnosticIds
{
    /// <summary>Rank missing, zero or negative.</summary>
    public const string InvalidRank = "SLG0001";
    /// <summary>Rank larger than min(d_in, d_out) of a target with known sizes.</summary>
    public const string RankExceedsLayer = "SLG0002";
    /// <summary>Rank so large that n·r ≥ d_in·d_out.</summary>
    public const string RankNotLow = "SLG0003";
    /// <summary>Information: a non-square target is adapted through truncation.</summary>
    public const string NonSquareTarget = "SLG0004";
    /// <summary>Information: a lone square target can only learn a symmetric positive semi-definite update.</summary>
    public const string LoneSquareTarget = "SLG0005";
    /// <summary>Alpha not finite and positive.</summary>
    public const string InvalidAlpha = "SLG0006";
    /// <summary>Dropout outside [0, 1).</summary>
    public const string InvalidDropout = "SLG0007";
    /// <summary>Negative ramp length.</summary>
    public const string NegativeRampLength = "SLG0008";
    /// <summary>Scaling or Init is not a defined enum value.</summary>
    public const string UndefinedEnumValue = "SLG0009";
    /// <summary>Targets empty, or with an empty entry.</summary>
    public const string EmptyTargets = "SLG0010";
    /// <summary>A target listed twice.</summary>
    public const string DuplicateTarget = "SLG0011";
    /// <summary>A target naming no field of the class.</summary>
    public const string UnknownTarget = "SLG0012";
    /// <summary>A target field that cannot be adapted.</summary>
    public const string UnadaptableTarget = "SLG0013";
    /// <summary>A Linear target used where the generated interceptors cannot reach it.</summary>
    public const string UnreachableLinearUse = "SLG0014";
    /// <summary>The annotated class is not partial.</summary>
    public const string NotPartial = "SLG0015";
    /// <summary>A containing type of the annotated class is not partial.</summary>
    public const string ContainingTypeNotPartial = "SLG0016";
    /// <summary>The annotated class is not a (non-static, non-record, non-file-local) TorchSharp module class.</summary>
    public const string NotAModule = "SLG0017";
    /// <summary>A user member (or another target) has the name of a generated member.</summary>
    public const string MemberCollision = "SLG0018";
    /// <summary>The annotated class declares RegisterComponents itself.</summary>
    public const string RegisterComponentsDeclared = "SLG0019";
    /// <summary>No constructor calls RegisterComponents().</summary>
    public const string MissingRegisterComponents = "SLG0020";
    /// <summary>SetRampStep called with a negative constant.</summary>
    public const string NegativeRampStep = "SLG0021";
    /// <summary>The generator failed on a class (an internal error): the class gets no adapters.</summary>
    public const string GeneratorInternalError = "SLG0022";
    /// <summary>A target's weight used to compute the layer by hand (functional.linear, matmul): the adapter is bypassed.</summary>
    public const string TargetWeightBypass = "SLG0023";
    /// <summary>A target assigned after RegisterComponents(): the new layer has no adapter.</summary>
    public const string TargetAssignedAfterRegistration = "SLG0024";
    /// <summary>A swapped (Module-typed) target handed out before RegisterComponents() swaps the adapter in.</summary>
    public const string TargetCopiedBeforeRegistration = "SLG0025";
    /// <summary>An annotated class derives from another annotated class.</summary>
    public const string AnnotatedBaseClass = "SLG0026";
    /// <summary>RampLength = 0: the random update applies at full scale from the first step.</summary>
    public const string NoRamp = "SLG0027";
    /// <summary>LayerIndex names no instance int field or property the generated code can read.</summary>
    public const string InvalidLayerIndex = "SLG0028";
    /// <summary>Layers is not a list of indices and ranges.</summary>
    public const string InvalidLayers = "SLG0029";
    /// <summary>Layers without LayerIndex: the generated code cannot know a module's position.</summary>
    public const string LayersWithoutLayerIndex = "SLG0030";
    /// <summary>The LayerIndex member is not assigned before RegisterComponents() in a constructor.</summary>
    public const string LayerIndexAssignedLate = "SLG0031";
}
