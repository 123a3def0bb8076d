using Microsoft.CodeAnalysis;

namespace SingLoRA.Analyzers;

/// <summary>
/// Every diagnostic the SingLoRA analyzers report. Each ID has a page at <c>docs/diagnostics/&lt;ID&gt;.md</c>
/// (what, why, how to fix, how to suppress); severities are defaults that <c>.editorconfig</c> can change.
/// </summary>
public static class DiagnosticDescriptors
{
    /// <summary>The category of every SingLoRA diagnostic.</summary>
    public const string Category = "SingLoRA";

    /// <summary>Rank missing, zero or negative.</summary>
    public const string InvalidRankId = "SLG0001";
    /// <summary>Rank larger than min(d_in, d_out) of a target with compile-time sizes.</summary>
    public const string RankExceedsLayerId = "SLG0002";
    /// <summary>Rank so large that n·r ≥ d_in·d_out.</summary>
    public const string RankNotLowId = "SLG0003";
    /// <summary>Information: a non-square target is adapted through the truncation A_in = A[:d_in], A_out = A[:d_out].</summary>
    public const string NonSquareTargetId = "SLG0004";
    /// <summary>Information: a lone square target can only learn a symmetric positive semi-definite update.</summary>
    public const string LoneSquareTargetId = "SLG0005";
    /// <summary>Alpha not finite and positive.</summary>
    public const string InvalidAlphaId = "SLG0006";
    /// <summary>Dropout outside [0, 1).</summary>
    public const string InvalidDropoutId = "SLG0007";
    /// <summary>Negative ramp length.</summary>
    public const string NegativeRampStepsId = "SLG0008";
    /// <summary>Scaling or Init is not a defined enum value.</summary>
    public const string UndefinedEnumValueId = "SLG0009";
    /// <summary>Targets empty, or with an empty entry.</summary>
    public const string EmptyTargetsId = "SLG0010";
    /// <summary>A target listed twice.</summary>
    public const string DuplicateTargetId = "SLG0011";
    /// <summary>A target naming no field of the class.</summary>
    public const string UnknownTargetId = "SLG0012";
    /// <summary>A target field whose type cannot be adapted.</summary>
    public const string UnadaptableTargetId = "SLG0013";
    /// <summary>A Linear target used where the generated interceptors cannot reach it.</summary>
    public const string UnreachableLinearUseId = "SLG0014";
    /// <summary>The annotated class is not partial.</summary>
    public const string NotPartialId = "SLG0015";
    /// <summary>A containing type of the annotated class is not partial.</summary>
    public const string ContainingTypeNotPartialId = "SLG0016";
    /// <summary>The annotated class does not derive from a TorchSharp module.</summary>
    public const string NotAModuleId = "SLG0017";
    /// <summary>A user member has the name of a generated member.</summary>
    public const string MemberCollisionId = "SLG0018";
    /// <summary>The annotated class declares RegisterComponents itself.</summary>
    public const string RegisterComponentsDeclaredId = "SLG0019";
    /// <summary>No constructor calls RegisterComponents().</summary>
    public const string MissingRegisterComponentsId = "SLG0020";
    /// <summary>SetRampStep called with a negative constant.</summary>
    public const string NegativeRampStepId = "SLG0021";

    /// <summary>Diagnostic property: the largest rank every target with known sizes accepts (for the clamp fix).</summary>
    public const string MaxRankProperty = "MaxRank";
    /// <summary>Diagnostic property: the unknown target name as written.</summary>
    public const string TargetProperty = "Target";
    /// <summary>Diagnostic property: the closest field name (for the replace fix).</summary>
    public const string SuggestionProperty = "Suggestion";

    private const string HelpRoot = "https://github.com/singlora-gen/SingLoRA.Gen/blob/main/docs/diagnostics/";

    private static DiagnosticDescriptor Create(string id, string title, string message, DiagnosticSeverity severity, string description, params string[] tags) =>
        new(id, title, message, Category, severity, isEnabledByDefault: true, description: description, helpLinkUri: HelpRoot + id + ".md", customTags: tags);

    /// <summary>SLG0001.</summary>
    public static readonly DiagnosticDescriptor InvalidRank = Create(
        InvalidRankId,
        "SingLoRA rank must be a positive integer",
        "[SingLoRA] on '{0}' has Rank = {1}; set Rank to a positive integer such as 8 (typical ranks are 4 to 64)",
        DiagnosticSeverity.Error,
        "The rank r is the width of the adapter matrix A [n, r]. It is required and must be at least 1; the runtime rejects anything else.");

    /// <summary>SLG0002.</summary>
    public static readonly DiagnosticDescriptor RankExceedsLayer = Create(
        RankExceedsLayerId,
        "SingLoRA rank exceeds the target layer",
        "Rank {0} is larger than min(d_in, d_out) = {1} of target '{2}' (d_in = {3}, d_out = {4}); the runtime rejects it. Use a rank of at most {1}.",
        DiagnosticSeverity.Error,
        "An update of a d_out × d_in layer has rank at most min(d_in, d_out): the extra rank could not be used, and the adapter constructor throws.");

    /// <summary>SLG0003.</summary>
    public static readonly DiagnosticDescriptor RankNotLow = Create(
        RankNotLowId,
        "SingLoRA rank is not low rank",
        "Rank {0} gives target '{1}' an adapter of n·r = {2} parameters, as many as the full update d_in·d_out = {3}; use a smaller rank, or fine-tune the layer itself",
        DiagnosticSeverity.Warning,
        "SingLoRA trains n·r values (n = max(d_in, d_out)). When that reaches d_in·d_out the adapter saves nothing over training the layer and loses the regularisation of a low-rank update.");

    /// <summary>SLG0004.</summary>
    public static readonly DiagnosticDescriptor NonSquareTarget = Create(
        NonSquareTargetId,
        "SingLoRA adapts a non-square target through truncation",
        "Target '{0}' is non-square (d_in = {1}, d_out = {2}): SingLoRA trains A [{3}, r] and uses A_in = A[:{1}], A_out = A[:{2}], so ΔW = A_out·A_inᵀ is not symmetric",
        DiagnosticSeverity.Info,
        "For a non-square layer the method keeps one matrix A of n = max(d_in, d_out) rows and truncates it: ΔW = A[:d_out]·A[:d_in]ᵀ (the paper's §4.4). This note says so; nothing needs fixing.");

    /// <summary>SLG0005.</summary>
    public static readonly DiagnosticDescriptor LoneSquareTarget = Create(
        LoneSquareTargetId,
        "A lone square SingLoRA target learns only a symmetric update",
        "Target '{0}' is the only target and is square ({1} × {1}): its update A·Aᵀ is symmetric positive semi-definite. The paper adapts q and k together (Targets = \"q,k\") so that their product is general; suppress this note if a PSD update is what you want.",
        DiagnosticSeverity.Info,
        "A square SingLoRA update ΔW = A·Aᵀ cannot express negative or antisymmetric changes. In attention, adapting both the query and the key projection makes Q·Kᵀ a product of two such updates, which is general.");

    /// <summary>SLG0006.</summary>
    public static readonly DiagnosticDescriptor InvalidAlpha = Create(
        InvalidAlphaId,
        "SingLoRA alpha must be finite and positive",
        "Alpha = {0} on [SingLoRA] of '{1}' is not a finite positive number; use a positive value such as 16 or twice the rank",
        DiagnosticSeverity.Error,
        "The update is scaled by alpha / r (or alpha / sqrt(r)). A zero, negative or non-finite alpha disables or inverts the adapter; the runtime rejects it.");

    /// <summary>SLG0007.</summary>
    public static readonly DiagnosticDescriptor InvalidDropout = Create(
        InvalidDropoutId,
        "SingLoRA dropout must be in [0, 1)",
        "Dropout = {0} on [SingLoRA] of '{1}' is outside [0, 1); use 0 to turn dropout off, or a probability below 1 such as 0.05",
        DiagnosticSeverity.Error,
        "Dropout is a probability applied to the adapter path's input. A dropout of 1 drops everything; the runtime rejects values outside [0, 1).");

    /// <summary>SLG0008.</summary>
    public static readonly DiagnosticDescriptor NegativeRampSteps = Create(
        NegativeRampStepsId,
        "SingLoRA ramp length must not be negative",
        "RampSteps = {0} on [SingLoRA] of '{1}' is negative; use 0 for no ramp or a positive number of optimizer steps",
        DiagnosticSeverity.Error,
        "The ramp u(t) = min(t / T, 1) needs T ≥ 0 (T = 0 means no ramp); the runtime rejects a negative length.");

    /// <summary>SLG0009.</summary>
    public static readonly DiagnosticDescriptor UndefinedEnumValue = Create(
        UndefinedEnumValueId,
        "SingLoRA option is not a defined enum value",
        "{0} = {1} on [SingLoRA] of '{2}' is not a defined {3} value; use one of {4}",
        DiagnosticSeverity.Error,
        "A cast integer that names no member of ScalingRule or AdapterInit is rejected by the runtime.");

    /// <summary>SLG0010.</summary>
    public static readonly DiagnosticDescriptor EmptyTargets = Create(
        EmptyTargetsId,
        "SingLoRA targets are empty",
        "Targets of [SingLoRA] on '{0}' {1}; list the fields to adapt, separated by commas, for example Targets = \"q,k\"",
        DiagnosticSeverity.Error,
        "Targets names the Linear or Module<Tensor, Tensor> fields to adapt. An empty list adapts nothing; an empty entry (\"q,,k\" or a trailing comma) names no field.");

    /// <summary>SLG0011.</summary>
    public static readonly DiagnosticDescriptor DuplicateTarget = Create(
        DuplicateTargetId,
        "SingLoRA target listed twice",
        "Target '{0}' is listed more than once in [SingLoRA] on '{1}'; remove the repeated entry (or correct it to the field you meant)",
        DiagnosticSeverity.Warning,
        "Each field is adapted once and the generator ignores the repeat; a repeated name is usually a typo for another field.",
        WellKnownDiagnosticTags.Unnecessary);

    /// <summary>SLG0012.</summary>
    public static readonly DiagnosticDescriptor UnknownTarget = Create(
        UnknownTargetId,
        "SingLoRA target names no field",
        "Target '{0}' names no field of '{1}'{2}",
        DiagnosticSeverity.Error,
        "Each target must be the name of an instance field declared in the annotated class, typed TorchSharp.Modules.Linear or Module<Tensor, Tensor>.");

    /// <summary>SLG0013.</summary>
    public static readonly DiagnosticDescriptor UnadaptableTarget = Create(
        UnadaptableTargetId,
        "SingLoRA target cannot be adapted",
        "Target '{0}' {1}; SingLoRA adapts instance fields typed TorchSharp.Modules.Linear or Module<Tensor, Tensor> holding a Linear. Remove '{0}' from Targets, or target the Linear layers inside it.",
        DiagnosticSeverity.Error,
        "The adapter wraps a TorchSharp Linear layer. Other modules (MultiheadAttention, custom linear classes, Sequential) and static fields cannot be adapted.");

    /// <summary>SLG0014.</summary>
    public static readonly DiagnosticDescriptor UnreachableLinearUse = Create(
        UnreachableLinearUseId,
        "This use of a SingLoRA Linear target bypasses the adapter",
        "'{0}' is a Linear target of [SingLoRA] on '{1}', and {2} uses the frozen layer without the adapter; call {0}.forward(x) or {0}.call(x) inside '{1}' (or make the field Module<Tensor, Tensor> so the adapter replaces it)",
        DiagnosticSeverity.Warning,
        "Linear is sealed, so a Linear-typed target is adapted by intercepting the forward(x) and call(x) calls on the field inside the annotated class. Any other use (an argument, a stored reference, a method group, a call from another class) runs the base layer alone.");

    /// <summary>SLG0015.</summary>
    public static readonly DiagnosticDescriptor NotPartial = Create(
        NotPartialId,
        "A [SingLoRA] class must be partial",
        "'{0}' has [SingLoRA] but is not partial; declare it 'partial' so the generator can add the adapter members",
        DiagnosticSeverity.Error,
        "The generator adds members to the annotated class in another file; C# allows that only for partial classes.");

    /// <summary>SLG0016.</summary>
    public static readonly DiagnosticDescriptor ContainingTypeNotPartial = Create(
        ContainingTypeNotPartialId,
        "The types containing a [SingLoRA] class must be partial",
        "'{0}' has [SingLoRA] and is nested in '{1}', which is not partial; declare every containing type 'partial'",
        DiagnosticSeverity.Error,
        "Generated code for a nested class re-declares its containing types, which C# allows only when they are partial.");

    /// <summary>SLG0017.</summary>
    public static readonly DiagnosticDescriptor NotAModule = Create(
        NotAModuleId,
        "A [SingLoRA] class must be a TorchSharp module",
        "'{0}' has [SingLoRA] but does not derive from TorchSharp.torch.nn.Module; derive it from Module<Tensor, Tensor> (or another TorchSharp module)",
        DiagnosticSeverity.Error,
        "The generated code overrides Module.RegisterComponents() and registers adapters as submodules, which needs a TorchSharp module.");

    /// <summary>SLG0018.</summary>
    public static readonly DiagnosticDescriptor MemberCollision = Create(
        MemberCollisionId,
        "Member name collides with a generated SingLoRA member",
        "'{1}' in '{0}' collides with a member the SingLoRA generator emits ({2}); rename the member or the field",
        DiagnosticSeverity.Error,
        "The generator emits SingLoRAOptions, Adapters, AdvanceRamp, SetRampStep, RampValue, MergeAdapters, UnmergeAdapters, SafeMergeAdapters, FreezeAllButAdapters, AdapterParameters, a <Target>Adapter property per target and private __singlora_ fields.");

    /// <summary>SLG0019.</summary>
    public static readonly DiagnosticDescriptor RegisterComponentsDeclared = Create(
        RegisterComponentsDeclaredId,
        "A [SingLoRA] class must not declare RegisterComponents",
        "'{0}' declares RegisterComponents(), which the SingLoRA generator emits to create the adapters; move its extra work to the constructor (after the RegisterComponents() call)",
        DiagnosticSeverity.Error,
        "The generated override of RegisterComponents() registers the fields and creates the adapters; a second declaration does not compile.");

    /// <summary>SLG0020.</summary>
    public static readonly DiagnosticDescriptor MissingRegisterComponents = Create(
        MissingRegisterComponentsId,
        "No constructor calls RegisterComponents()",
        "No constructor of '{0}' calls RegisterComponents(), so its SingLoRA adapters are never created; call RegisterComponents() at the end of the constructor",
        DiagnosticSeverity.Warning,
        "TorchSharp modules register their fields in RegisterComponents(); the generated override of it is also where the adapters are created.");

    /// <summary>SLG0021.</summary>
    public static readonly DiagnosticDescriptor NegativeRampStep = Create(
        NegativeRampStepId,
        "SingLoRA ramp step must not be negative",
        "SetRampStep({0}) always throws: the ramp step counts optimizer steps and cannot be negative; use 0 to restart the ramp",
        DiagnosticSeverity.Warning,
        "The ramp step t is a count of optimizer steps; SetRampStep throws ArgumentOutOfRangeException for a negative value.");
}
