using Microsoft.CodeAnalysis;
using SingLoRA.Common;

namespace SingLoRA.Analyzers;

/// <summary>
/// Every diagnostic the SingLoRA analyzers report. Each ID has a page at <c>docs/diagnostics/&lt;ID&gt;.md</c> whose
/// title is the descriptor's title (a test holds the descriptors, the pages, the release files and the README table
/// together); severities are defaults that <c>.editorconfig</c> can change. The generator reports one more, SLG0022.
/// </summary>
public static class DiagnosticDescriptors
{
    /// <summary>The category of every SingLoRA diagnostic.</summary>
    public const string Category = "SingLoRA";

    /// <summary>Custom tag of the diagnostics that name a pattern the generator does not support (docs/design.md, "Not supported").</summary>
    public const string NotSupportedTag = "SingLoRA.NotSupported";

    /// <summary>Rank missing, zero or negative.</summary>
    public const string InvalidRankId = DiagnosticIds.InvalidRank;
    /// <summary>Rank larger than min(d_in, d_out) of a target with known sizes.</summary>
    public const string RankExceedsLayerId = DiagnosticIds.RankExceedsLayer;
    /// <summary>Rank so large that n·r ≥ d_in·d_out.</summary>
    public const string RankNotLowId = DiagnosticIds.RankNotLow;
    /// <summary>Information: a non-square target is adapted through the truncation A_in = A[:d_in], A_out = A[:d_out].</summary>
    public const string NonSquareTargetId = DiagnosticIds.NonSquareTarget;
    /// <summary>Information: a lone square target can only learn a symmetric positive semi-definite update.</summary>
    public const string LoneSquareTargetId = DiagnosticIds.LoneSquareTarget;
    /// <summary>Alpha not finite and positive.</summary>
    public const string InvalidAlphaId = DiagnosticIds.InvalidAlpha;
    /// <summary>Dropout outside [0, 1).</summary>
    public const string InvalidDropoutId = DiagnosticIds.InvalidDropout;
    /// <summary>Negative ramp length.</summary>
    public const string NegativeRampLengthId = DiagnosticIds.NegativeRampLength;

    /// <summary>RampLength = 0.</summary>
    public const string NoRampId = DiagnosticIds.NoRamp;
    /// <summary>Scaling or Init is not a defined enum value.</summary>
    public const string UndefinedEnumValueId = DiagnosticIds.UndefinedEnumValue;
    /// <summary>Targets empty, or with an empty entry.</summary>
    public const string EmptyTargetsId = DiagnosticIds.EmptyTargets;
    /// <summary>A target listed twice.</summary>
    public const string DuplicateTargetId = DiagnosticIds.DuplicateTarget;
    /// <summary>A target naming no field of the class.</summary>
    public const string UnknownTargetId = DiagnosticIds.UnknownTarget;
    /// <summary>A target field whose type cannot be adapted.</summary>
    public const string UnadaptableTargetId = DiagnosticIds.UnadaptableTarget;
    /// <summary>A Linear target used where the generated interceptors cannot reach it.</summary>
    public const string UnreachableLinearUseId = DiagnosticIds.UnreachableLinearUse;
    /// <summary>The annotated class is not partial.</summary>
    public const string NotPartialId = DiagnosticIds.NotPartial;
    /// <summary>A containing type of the annotated class is not partial.</summary>
    public const string ContainingTypeNotPartialId = DiagnosticIds.ContainingTypeNotPartial;
    /// <summary>The annotated class is not a TorchSharp module class.</summary>
    public const string NotAModuleId = DiagnosticIds.NotAModule;
    /// <summary>A user member has the name of a generated member.</summary>
    public const string MemberCollisionId = DiagnosticIds.MemberCollision;
    /// <summary>The annotated class declares RegisterComponents itself.</summary>
    public const string RegisterComponentsDeclaredId = DiagnosticIds.RegisterComponentsDeclared;
    /// <summary>No constructor calls RegisterComponents().</summary>
    public const string MissingRegisterComponentsId = DiagnosticIds.MissingRegisterComponents;
    /// <summary>SetRampStep called with a negative constant.</summary>
    public const string NegativeRampStepId = DiagnosticIds.NegativeRampStep;
    /// <summary>A target's weight used to compute the layer by hand.</summary>
    public const string TargetWeightBypassId = DiagnosticIds.TargetWeightBypass;
    /// <summary>A target assigned after RegisterComponents().</summary>
    public const string TargetAssignedAfterRegistrationId = DiagnosticIds.TargetAssignedAfterRegistration;
    /// <summary>A Module-typed target handed out before RegisterComponents() swaps the adapter in.</summary>
    public const string TargetCopiedBeforeRegistrationId = DiagnosticIds.TargetCopiedBeforeRegistration;
    /// <summary>An annotated class derives from another annotated class.</summary>
    public const string AnnotatedBaseClassId = DiagnosticIds.AnnotatedBaseClass;
    /// <summary>LayerIndex names no instance int field or property.</summary>
    public const string InvalidLayerIndexId = DiagnosticIds.InvalidLayerIndex;
    /// <summary>Layers is not a list of indices and ranges.</summary>
    public const string InvalidLayersId = DiagnosticIds.InvalidLayers;
    /// <summary>Layers without LayerIndex.</summary>
    public const string LayersWithoutLayerIndexId = DiagnosticIds.LayersWithoutLayerIndex;
    /// <summary>The LayerIndex member is not assigned before RegisterComponents().</summary>
    public const string LayerIndexAssignedLateId = DiagnosticIds.LayerIndexAssignedLate;

    /// <summary>Diagnostic property of SLG0031: the name of the LayerIndex member (for the fix that moves its assignment).</summary>
    public const string LayerIndexMemberProperty = "LayerIndexMember";

    /// <summary>Diagnostic property: the largest rank every target with known sizes accepts without SLG0002 or SLG0003 (for the clamp fix).</summary>
    public const string MaxRankProperty = "MaxRank";
    /// <summary>Diagnostic property: the unknown target name as written.</summary>
    public const string TargetProperty = "Target";
    /// <summary>Diagnostic property: the closest field name (for the replace fix).</summary>
    public const string SuggestionProperty = "Suggestion";

    private static DiagnosticDescriptor Create(string id, string title, string message, DiagnosticSeverity severity, string description, params string[] tags) =>
        new(id, title, message, Category, severity, isEnabledByDefault: true, description: description, helpLinkUri: HelpLinks.For(id), customTags: tags);

    /// <summary>SLG0001.</summary>
    public static readonly DiagnosticDescriptor InvalidRank = Create(
        InvalidRankId,
        "Rank must be a positive integer",
        "[SingLoRA] on '{0}' has Rank = {1}; set Rank to a positive integer such as 8 (typical ranks are 4 to 64)",
        DiagnosticSeverity.Error,
        "The rank r is the width of the adapter matrix A [n, r]. It is required and must be at least 1; the runtime rejects anything else.");

    /// <summary>SLG0002.</summary>
    public static readonly DiagnosticDescriptor RankExceedsLayer = Create(
        RankExceedsLayerId,
        "Rank exceeds the target layer",
        "Rank {0} exceeds min(d_in, d_out) = {1} of target '{2}' (d_in = {3}, d_out = {4}){5}; the runtime rejects it, use a rank of at most {1}",
        DiagnosticSeverity.Error,
        "An update of a d_out × d_in layer has rank at most min(d_in, d_out): the extra rank could not be used, and the adapter constructor throws. Sizes are followed from constants in the class, and through the constructor arguments of each place the class is built (constants, const fields, config objects, simple arithmetic).");

    /// <summary>SLG0003.</summary>
    public static readonly DiagnosticDescriptor RankNotLow = Create(
        RankNotLowId,
        "Rank is not low rank",
        "Rank {0} gives target '{1}' an adapter of n·r = {2} parameters, as many as the full update d_in·d_out = {3}{4}; use a smaller rank, or fine-tune the layer itself",
        DiagnosticSeverity.Warning,
        "SingLoRA trains n·r values (n = max(d_in, d_out)). When that reaches d_in·d_out the adapter saves nothing over training the layer and loses the regularisation of a low-rank update.");

    /// <summary>SLG0004.</summary>
    public static readonly DiagnosticDescriptor NonSquareTarget = Create(
        NonSquareTargetId,
        "Non-square target is adapted through truncation",
        "Target '{0}' is non-square (d_in = {1}, d_out = {2}){4}: SingLoRA trains A [{3}, r] and uses A_in = A[:{1}], A_out = A[:{2}], so ΔW = A_out·A_inᵀ is not symmetric",
        DiagnosticSeverity.Info,
        "For a non-square layer the method keeps one matrix A of n = max(d_in, d_out) rows and truncates it: ΔW = A[:d_out]·A[:d_in]ᵀ (the paper's §4.4). This note says so; nothing needs fixing.");

    /// <summary>SLG0005.</summary>
    public static readonly DiagnosticDescriptor LoneSquareTarget = Create(
        LoneSquareTargetId,
        "A lone square target learns only a symmetric update",
        "Target '{0}' is the only target and is square ({1} × {1}){2}: its update A·Aᵀ is symmetric positive semi-definite. The paper adapts q and k together (Targets = \"q,k\") so that their product is general; suppress this note if a PSD update is what you want.",
        DiagnosticSeverity.Info,
        "A square SingLoRA update ΔW = A·Aᵀ cannot express negative or antisymmetric changes. In attention, adapting both the query and the key projection makes Q·Kᵀ a product of two such updates, which is general.");

    /// <summary>SLG0006.</summary>
    public static readonly DiagnosticDescriptor InvalidAlpha = Create(
        InvalidAlphaId,
        "Alpha must be finite and positive",
        "Alpha = {0} on [SingLoRA] of '{1}' is not a finite positive number; use a positive value such as 16 or twice the rank",
        DiagnosticSeverity.Error,
        "The update is scaled by alpha / r (or alpha / sqrt(r)). A zero, negative or non-finite alpha disables or inverts the adapter; the runtime rejects it.");

    /// <summary>SLG0007.</summary>
    public static readonly DiagnosticDescriptor InvalidDropout = Create(
        InvalidDropoutId,
        "Dropout must be in [0, 1)",
        "Dropout = {0} on [SingLoRA] of '{1}' is outside [0, 1); use 0 to turn dropout off, or a probability below 1 such as 0.05",
        DiagnosticSeverity.Error,
        "Dropout is a probability applied to the adapter path's input. A dropout of 1 drops everything; the runtime rejects values outside [0, 1).");

    /// <summary>SLG0008.</summary>
    public static readonly DiagnosticDescriptor NegativeRampLength = Create(
        NegativeRampLengthId,
        "Ramp length must not be negative",
        "RampLength = {0} on [SingLoRA] of '{1}' is negative; use 0 for no ramp or a positive number of optimizer steps",
        DiagnosticSeverity.Error,
        "The ramp u(t) = min(t / T, 1) needs T ≥ 0 (T = 0 means no ramp); the runtime rejects a negative length.");

    /// <summary>SLG0027.</summary>
    public static readonly DiagnosticDescriptor NoRamp = Create(
        NoRampId,
        "RampLength = 0 applies the random update from the first step",
        "RampLength = 0 on [SingLoRA] of '{0}': the adapter's random update A Aᵀ applies at full scale before any training, so a pretrained model's output changes at once; use a ramp (the default is 100 optimizer steps) unless the model is trained from scratch",
        DiagnosticSeverity.Info,
        "SingLoRA's update s·u(t)·A Aᵀ with a random A is not zero (LoRA's is, through its zero B). The ramp u(t) = min(t / T, 1) starts it at 0 so the adapted model equals the pretrained one; T = 0 means u = 1 from the start.");

    /// <summary>SLG0009.</summary>
    public static readonly DiagnosticDescriptor UndefinedEnumValue = Create(
        UndefinedEnumValueId,
        "Option is not a defined enum value",
        "{0} = {1} on [SingLoRA] of '{2}' is not a defined {3} value; use one of {4}",
        DiagnosticSeverity.Error,
        "A cast integer that names no member of ScalingRule, AdapterInit or AdapterPrecision is rejected by the runtime.");

    /// <summary>SLG0010.</summary>
    public static readonly DiagnosticDescriptor EmptyTargets = Create(
        EmptyTargetsId,
        "Targets are empty",
        "Targets of [SingLoRA] on '{0}' {1}; list the fields to adapt, separated by commas, for example Targets = \"q,k\"",
        DiagnosticSeverity.Error,
        "Targets names the Linear or Module<Tensor, Tensor> fields to adapt. An empty list adapts nothing; an empty entry (\"q,,k\" or a trailing comma) names no field.");

    /// <summary>SLG0011.</summary>
    public static readonly DiagnosticDescriptor DuplicateTarget = Create(
        DuplicateTargetId,
        "Target listed twice",
        "Target '{0}' is listed more than once in [SingLoRA] on '{1}'; remove the repeated entry (or correct it to the field you meant)",
        DiagnosticSeverity.Warning,
        "Each field is adapted once and the generator ignores the repeat; a repeated name is usually a typo for another field.",
        WellKnownDiagnosticTags.Unnecessary);

    /// <summary>SLG0012.</summary>
    public static readonly DiagnosticDescriptor UnknownTarget = Create(
        UnknownTargetId,
        "Target names no field",
        "Target '{0}' names no field of '{1}'{2}",
        DiagnosticSeverity.Error,
        "Each target must be the name of an instance field declared in the annotated class, typed TorchSharp.Modules.Linear or Module<Tensor, Tensor>.",
        NotSupportedTag);

    /// <summary>SLG0013.</summary>
    public static readonly DiagnosticDescriptor UnadaptableTarget = Create(
        UnadaptableTargetId,
        "Target cannot be adapted",
        "Target '{0}' {1}; SingLoRA adapts instance fields typed TorchSharp.Modules.Linear or Module<Tensor, Tensor> holding a Linear. Remove '{0}' from Targets, or target the Linear layers inside it.",
        DiagnosticSeverity.Error,
        "The adapter wraps a TorchSharp Linear layer held by one of the class's own instance fields. Other modules (MultiheadAttention, custom linear classes, Sequential), static and inherited fields cannot be adapted.",
        NotSupportedTag);

    /// <summary>SLG0014.</summary>
    public static readonly DiagnosticDescriptor UnreachableLinearUse = Create(
        UnreachableLinearUseId,
        "This use of a Linear target bypasses the adapter",
        "'{0}' is a Linear target of [SingLoRA] on '{1}', and {2} uses the frozen layer without the adapter; call {0}.forward(x) or {0}.call(x) inside '{1}' (or make the field Module<Tensor, Tensor> so the adapter replaces it)",
        DiagnosticSeverity.Warning,
        "Linear is sealed, so a Linear-typed target is adapted by intercepting the forward(x) and call(x) calls on the field inside the annotated class. Any other use (an argument, a stored reference, a method group, a call from another class) runs the base layer alone.",
        NotSupportedTag);

    /// <summary>SLG0015.</summary>
    public static readonly DiagnosticDescriptor NotPartial = Create(
        NotPartialId,
        "The class must be partial",
        "'{0}' has [SingLoRA] but is not partial; declare it 'partial' so the generator can add the adapter members",
        DiagnosticSeverity.Error,
        "The generator adds members to the annotated class in another file; C# allows that only for partial classes.");

    /// <summary>SLG0016.</summary>
    public static readonly DiagnosticDescriptor ContainingTypeNotPartial = Create(
        ContainingTypeNotPartialId,
        "Containing types must be partial",
        "'{0}' has [SingLoRA] and is nested in '{1}', which is not partial; declare every containing type 'partial'",
        DiagnosticSeverity.Error,
        "Generated code for a nested class re-declares its containing types, which C# allows only when they are partial.");

    /// <summary>SLG0017.</summary>
    public static readonly DiagnosticDescriptor NotAModule = Create(
        NotAModuleId,
        "The class must be a TorchSharp module",
        "'{0}' has [SingLoRA] but {1}; annotate a non-static class deriving from Module<Tensor, Tensor> (or another TorchSharp module)",
        DiagnosticSeverity.Error,
        "The generated code overrides Module.RegisterComponents() and registers adapters as submodules, which needs a TorchSharp module class; it is written in another file, so the class cannot be static, a record or file-local.");

    /// <summary>SLG0018.</summary>
    public static readonly DiagnosticDescriptor MemberCollision = Create(
        MemberCollisionId,
        "Member name collides with a generated member",
        "'{1}' in '{0}' collides with a member the SingLoRA generator emits ({2}); rename the member or the field",
        DiagnosticSeverity.Error,
        "The generator emits SingLoRAOptions, Adapters, AdvanceRamp, SetRampStep, RampValue, MergeAdapters, UnmergeAdapters, SafeMergeAdapters, FreezeAllButAdapters, AdapterParameters, a <Target>Adapter property per target and the private static field __singloraDescriptor.");

    /// <summary>SLG0019.</summary>
    public static readonly DiagnosticDescriptor RegisterComponentsDeclared = Create(
        RegisterComponentsDeclaredId,
        "The class must not declare RegisterComponents",
        "'{0}' declares RegisterComponents(), which the SingLoRA generator emits to create the adapters; move its extra work to the constructor (after the RegisterComponents() call)",
        DiagnosticSeverity.Error,
        "The generated override of RegisterComponents() registers the fields and creates the adapters; a second declaration does not compile, so the class gets no generated code.",
        NotSupportedTag);

    /// <summary>SLG0020.</summary>
    public static readonly DiagnosticDescriptor MissingRegisterComponents = Create(
        MissingRegisterComponentsId,
        "No constructor calls RegisterComponents()",
        "No constructor of '{0}' calls RegisterComponents(), so its SingLoRA adapters are never created; call RegisterComponents() at the end of the constructor",
        DiagnosticSeverity.Warning,
        "TorchSharp modules register their fields in RegisterComponents(); the generated override of it is also where the adapters are created. A class with a primary constructor has no body to call it from: the code fix turns the primary constructor into an ordinary one.",
        NotSupportedTag);

    /// <summary>SLG0021.</summary>
    public static readonly DiagnosticDescriptor NegativeRampStep = Create(
        NegativeRampStepId,
        "Ramp step must not be negative",
        "SetRampStep({0}) always throws: the ramp step counts optimizer steps and cannot be negative; use 0 to restart the ramp",
        DiagnosticSeverity.Warning,
        "The ramp step t is a count of optimizer steps; SetRampStep throws ArgumentOutOfRangeException for a negative value.");

    /// <summary>SLG0023.</summary>
    public static readonly DiagnosticDescriptor TargetWeightBypass = Create(
        TargetWeightBypassId,
        "A target's weight used by hand bypasses the adapter",
        "'{0}.weight' is the frozen base weight of a SingLoRA target of '{1}'; {2} computes the layer without its adapter, which then learns nothing. Call {0}.forward(x) (or use the adapter's DeltaWeight() if the update is what you want).",
        DiagnosticSeverity.Warning,
        "The adapter adds its update in forward(); functional.linear(x, q.weight, q.bias) or a matmul with q.weight computes the frozen layer alone, so the adapter gets no gradient and merged and unmerged outputs differ.",
        NotSupportedTag);

    /// <summary>SLG0024.</summary>
    public static readonly DiagnosticDescriptor TargetAssignedAfterRegistration = Create(
        TargetAssignedAfterRegistrationId,
        "A target assigned after RegisterComponents() has no adapter",
        "Target '{0}' of '{1}' is assigned {2}, after RegisterComponents() created its adapter; the new layer {3}. Create the layer before RegisterComponents().",
        DiagnosticSeverity.Warning,
        "RegisterComponents() wraps the layer each target holds at that moment. A layer assigned later is not wrapped: a Module-typed target then runs it without an adapter, a Linear-typed one throws at its first call, and the state dict keeps the old adapter.",
        NotSupportedTag);

    /// <summary>SLG0025.</summary>
    public static readonly DiagnosticDescriptor TargetCopiedBeforeRegistration = Create(
        TargetCopiedBeforeRegistrationId,
        "A target handed out before RegisterComponents() keeps the frozen layer",
        "Target '{0}' of '{1}' is {2} before RegisterComponents() swaps its adapter into the field; what receives it keeps the frozen layer and runs it without the adapter. Do this after RegisterComponents().",
        DiagnosticSeverity.Warning,
        "A Module-typed target gets its adapter by a field swap in RegisterComponents(). A reference taken earlier (a Sequential, a list, another field) still points at the bare Linear.",
        NotSupportedTag);

    /// <summary>SLG0026.</summary>
    public static readonly DiagnosticDescriptor AnnotatedBaseClass = Create(
        AnnotatedBaseClassId,
        "A [SingLoRA] class cannot derive from another [SingLoRA] class",
        "'{0}' has [SingLoRA] and derives from '{1}', which has [SingLoRA] too; the generated members would hide each other, so '{0}' gets no generated code. Put all the targets on one class, or move one [SingLoRA] to a class that does not derive from the other.",
        DiagnosticSeverity.Error,
        "Each annotated class gets its own RegisterComponents override, options and ISingLoRAModule members; in a derived annotated class they would hide the base's.",
        NotSupportedTag);

    /// <summary>SLG0028.</summary>
    public static readonly DiagnosticDescriptor InvalidLayerIndex = Create(
        InvalidLayerIndexId,
        "LayerIndex must name an int field or property of the class",
        "LayerIndex = \"{0}\" on [SingLoRA] of '{1}' {2}; name an instance int field or property that holds the module's position in its stack (for example nameof(layer_idx)), set before RegisterComponents(). '{1}' gets no generated code until this is fixed.",
        DiagnosticSeverity.Error,
        "The generated RegisterComponents() reads the layer index from the member LayerIndex names, to decide whether this instance gets adapters (Layers, or a SingLoRAOverrides.Layers scope).");

    /// <summary>SLG0029.</summary>
    public static readonly DiagnosticDescriptor InvalidLayers = Create(
        InvalidLayersId,
        "Layers must be a list of layer indices and ranges",
        "Layers on [SingLoRA] of '{0}' {1}; write non-negative indices and inclusive ranges separated by commas, for example \"0-3, 8\". '{0}' gets no generated code until this is fixed.",
        DiagnosticSeverity.Error,
        "Layers chooses which layers of a stack get adapters (PEFT's layers_to_transform): \"0-3, 8\" adapts layers 0, 1, 2, 3 and 8.");

    /// <summary>SLG0030.</summary>
    public static readonly DiagnosticDescriptor LayersWithoutLayerIndex = Create(
        LayersWithoutLayerIndexId,
        "Layers needs LayerIndex",
        "[SingLoRA] of '{0}' sets Layers but not LayerIndex, so the generated code cannot know which layer an instance is; add LayerIndex = nameof(<the int member that holds the layer's position>), or choose layers at run time with SingLoRAOverrides.Layers(...). '{0}' gets no generated code until this is fixed.",
        DiagnosticSeverity.Error,
        "A module does not know its position in a stack by itself; the member LayerIndex names (Hugging Face's layer_idx) tells it.");

    /// <summary>SLG0031.</summary>
    public static readonly DiagnosticDescriptor LayerIndexAssignedLate = Create(
        LayerIndexAssignedLateId,
        "The LayerIndex member must be set before RegisterComponents()",
        "'{0}' chooses its adapted layers by '{1}', but this constructor calls RegisterComponents() before it assigns '{1}'; every instance built here reads {2} and is adapted or left out as layer {2}. Assign '{1}' before RegisterComponents().",
        DiagnosticSeverity.Warning,
        "RegisterComponents() reads the layer index once, when it creates the adapters; a value assigned later changes nothing.");
}
