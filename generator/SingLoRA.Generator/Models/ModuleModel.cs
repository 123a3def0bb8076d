namespace SingLoRA.Generator.Models;

/// <summary>
/// Everything the emitter needs to write the SingLoRA half of one annotated module: plain strings, numbers and
/// value-equal arrays, never a symbol, syntax node, location or compilation (so the pipeline can cache it).
/// </summary>
/// <param name="HintName">The unique file name stem of the generated sources (namespace, containing types, class, arity).</param>
/// <param name="Namespace">The class's namespace, or null for the global namespace.</param>
/// <param name="ContainingTypes">The types the class is nested in, outermost first.</param>
/// <param name="ClassName">The class name as written (escaped when it is a keyword).</param>
/// <param name="TypeParameters">The type parameter list as written (<c>&lt;T&gt;</c>), or empty.</param>
/// <param name="DisplayName">The name used in runtime error messages (<c>Outer.Attention&lt;T&gt;</c>).</param>
/// <param name="Options">The attribute's values.</param>
/// <param name="Targets">The targets that name a usable field, in attribute order.</param>
/// <param name="Interceptors">The intercepted calls on <c>Linear</c> targets, grouped per target and method.</param>
public sealed record ModuleModel(
    string HintName,
    string? Namespace,
    EquatableArray<ContainingTypeModel> ContainingTypes,
    string ClassName,
    string TypeParameters,
    string DisplayName,
    OptionsModel Options,
    EquatableArray<TargetModel> Targets,
    EquatableArray<InterceptorModel> Interceptors);

/// <summary>A type that contains the annotated class.</summary>
/// <param name="Keyword">The declaration keyword: <c>class</c>, <c>struct</c>, <c>record</c>, <c>record struct</c> or <c>interface</c>.</param>
/// <param name="Name">The type name as written.</param>
/// <param name="TypeParameters">The type parameter list as written, or empty.</param>
public sealed record ContainingTypeModel(string Keyword, string Name, string TypeParameters);

/// <summary>
/// The values the <c>[SingLoRA]</c> attribute sets. A null value was not set: the generated code then leaves it to
/// <c>SingLoRAOptions</c>' default, which is also the attribute's default.
/// </summary>
public sealed record OptionsModel(int Rank, double? Alpha, int? RampSteps, double? Dropout, int? Scaling, int? Init);

/// <summary>How the adapter reaches the callers of a target field.</summary>
public enum TargetKind
{
    /// <summary>The field is a <c>Linear</c> (sealed, so it cannot hold the adapter): its calls are intercepted.</summary>
    Intercepted,

    /// <summary>The field's type (for example <c>Module&lt;Tensor, Tensor&gt;</c>) also holds the adapter: the field is swapped.</summary>
    SwappedField,
}

/// <summary>One adapted field.</summary>
/// <param name="FieldName">The field name (the state-dict key prefix and the name in messages).</param>
/// <param name="FieldIdentifier">The field name as an identifier (with <c>@</c> when it is a keyword).</param>
/// <param name="PropertyName">The typed adapter property (<c>q_proj</c> gives <c>QProjAdapter</c>).</param>
/// <param name="Kind">How callers see the adapter.</param>
/// <param name="IsReadOnly">Whether the field is <c>readonly</c> (a swap then writes through <c>Unsafe.AsRef</c>).</param>
public sealed record TargetModel(string FieldName, string FieldIdentifier, string PropertyName, TargetKind Kind, bool IsReadOnly);

/// <summary>One interceptor method: every call of <paramref name="MethodName"/> on the target field <paramref name="FieldName"/> declared on <paramref name="ReceiverType"/>.</summary>
/// <param name="FieldName">The target field.</param>
/// <param name="MethodName"><c>forward</c> or <c>call</c>.</param>
/// <param name="ReceiverType">The fully qualified type that declares the intercepted method (the interceptor's <c>this</c> parameter).</param>
/// <param name="Calls">The intercepted call sites.</param>
public sealed record InterceptorModel(string FieldName, string MethodName, string ReceiverType, EquatableArray<InterceptedCallModel> Calls);

/// <summary>One intercepted call site.</summary>
/// <param name="Version">The <c>InterceptsLocation</c> encoding version.</param>
/// <param name="Data">The encoded location (a checksum of the file and the position of the call).</param>
/// <param name="Display">A readable position for the generated comment: <c>File.cs(12,19)</c>.</param>
public sealed record InterceptedCallModel(int Version, string Data, string Display);

/// <summary>One generated file.</summary>
public sealed record GeneratedFile(string HintName, string Text);
