using SingLoRA.Common;

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
/// <param name="Layers">The attribute's choice of layers, or null when it names no <c>LayerIndex</c> member.</param>
internal sealed record ModuleModel(
    string HintName,
    string? Namespace,
    EquatableArray<ContainingTypeModel> ContainingTypes,
    string ClassName,
    string TypeParameters,
    string DisplayName,
    OptionsModel Options,
    EquatableArray<TargetModel> Targets,
    EquatableArray<InterceptorModel> Interceptors,
    LayersModel? Layers);

/// <summary>Which layers of a stack get adapters.</summary>
/// <param name="IndexMember">The <c>int</c> member holding the module's layer index, as an identifier (escaped when a keyword).</param>
/// <param name="Ranges">The attribute's <c>Layers</c> ranges; empty when it has none (every layer is adapted).</param>
internal sealed record LayersModel(string IndexMember, EquatableArray<LayerRange> Ranges);

/// <summary>A type that contains the annotated class.</summary>
/// <param name="Keyword">The declaration keyword: <c>class</c>, <c>struct</c>, <c>record</c>, <c>record struct</c> or <c>interface</c>.</param>
/// <param name="Name">The type name as written.</param>
/// <param name="TypeParameters">The type parameter list as written, or empty.</param>
internal sealed record ContainingTypeModel(string Keyword, string Name, string TypeParameters);

/// <summary>
/// The values the <c>[SingLoRA]</c> attribute sets. A null value was not set: the generated code then leaves it to
/// <c>SingLoRAOptions</c>' default, which is also the attribute's default.
/// </summary>
internal sealed record OptionsModel(int Rank, double? Alpha, long? RampLength, double? Dropout, int? Scaling, int? Init, int? Precision);

/// <summary>One adapted field.</summary>
/// <param name="FieldName">The field name (the state-dict key prefix and the name in messages).</param>
/// <param name="FieldIdentifier">The field name as an identifier (with <c>@</c> when it is a keyword).</param>
/// <param name="PropertyName">The typed adapter property (<c>q_proj</c> gives <c>QProjAdapter</c>).</param>
/// <param name="Kind">How callers see the adapter.</param>
/// <param name="IsReadOnly">Whether the field is <c>readonly</c> (a swap then writes through <c>Unsafe.AsRef</c>).</param>
internal sealed record TargetModel(string FieldName, string FieldIdentifier, string PropertyName, TargetKind Kind, bool IsReadOnly);

/// <summary>One interceptor method: every call of <paramref name="MethodName"/> on the target field <paramref name="FieldName"/> declared on <paramref name="ReceiverType"/>.</summary>
/// <param name="FieldName">The target field.</param>
/// <param name="MethodName"><c>forward</c> or <c>call</c>.</param>
/// <param name="ReceiverType">The fully qualified type that declares the intercepted method (the interceptor's <c>this</c> parameter).</param>
/// <param name="Calls">The intercepted call sites.</param>
internal sealed record InterceptorModel(string FieldName, string MethodName, string ReceiverType, EquatableArray<InterceptedCallModel> Calls);

/// <summary>One intercepted call site.</summary>
/// <param name="Version">The <c>InterceptsLocation</c> encoding version.</param>
/// <param name="Data">The encoded location (a checksum of the file and the position of the call).</param>
/// <param name="Display">A readable position for the generated comment: <c>File.cs(12,19)</c>.</param>
internal sealed record InterceptedCallModel(int Version, string Data, string Display);

/// <summary>One generated file.</summary>
internal sealed record GeneratedFile(string HintName, string Text);

/// <summary>A source position without a <c>Location</c> (which would keep a syntax tree alive in the pipeline).</summary>
/// <param name="Path">The file path.</param>
/// <param name="Start">The start of the span.</param>
/// <param name="Length">The length of the span.</param>
/// <param name="StartLine">Zero-based start line.</param>
/// <param name="StartCharacter">Zero-based start column.</param>
/// <param name="EndLine">Zero-based end line.</param>
/// <param name="EndCharacter">Zero-based end column.</param>
internal sealed record LocationInfo(string Path, int Start, int Length, int StartLine, int StartCharacter, int EndLine, int EndCharacter)
{
    /// <summary>The position of <paramref name="location"/>, or null when it is not in source.</summary>
    public static LocationInfo? From(Microsoft.CodeAnalysis.Location? location)
    {
        if (location is null || !location.IsInSource) return null;
        var span = location.GetLineSpan();
        return new LocationInfo(span.Path, location.SourceSpan.Start, location.SourceSpan.Length,
            span.StartLinePosition.Line, span.StartLinePosition.Character, span.EndLinePosition.Line, span.EndLinePosition.Character);
    }

    /// <summary>The location again, for reporting.</summary>
    public Microsoft.CodeAnalysis.Location ToLocation() => Microsoft.CodeAnalysis.Location.Create(
        Path,
        new Microsoft.CodeAnalysis.Text.TextSpan(Start, Length),
        new Microsoft.CodeAnalysis.Text.LinePositionSpan(
            new Microsoft.CodeAnalysis.Text.LinePosition(StartLine, StartCharacter),
            new Microsoft.CodeAnalysis.Text.LinePosition(EndLine, EndCharacter)));
}

/// <summary>A diagnostic the generator reports, as plain values.</summary>
/// <param name="Location">Where, or null for no source position.</param>
/// <param name="Arguments">The message arguments.</param>
internal sealed record DiagnosticInfo(LocationInfo? Location, EquatableArray<string> Arguments);

/// <summary>What the parse step produces for one annotated class: a model to emit (or none), and any internal error.</summary>
/// <param name="Module">The model, or null when the class gets no output.</param>
/// <param name="Errors">Internal errors (SLG0022) met while parsing the class; empty in every correct run.</param>
internal sealed record ParseResult(ModuleModel? Module, EquatableArray<DiagnosticInfo> Errors);

/// <summary>What the emit step produces for one model: its files, or the internal error met while writing them.</summary>
/// <param name="Files">The generated files.</param>
/// <param name="Errors">Internal errors (SLG0022); empty in every correct run.</param>
internal sealed record EmitResult(EquatableArray<GeneratedFile> Files, EquatableArray<DiagnosticInfo> Errors);
