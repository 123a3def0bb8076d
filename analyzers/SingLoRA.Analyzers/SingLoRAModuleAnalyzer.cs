using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using static SingLoRA.Analyzers.DiagnosticDescriptors;

namespace SingLoRA.Analyzers;

/// <summary>
/// Checks a [SingLoRA] class as a whole: the attribute's values, its targets (and their sizes where the
/// <c>Linear(in, out)</c> creation has constant sizes), the class's shape, and the members the generator emits.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class SingLoRAModuleAnalyzer : DiagnosticAnalyzer
{
    /// <summary>The members the generator emits on every annotated class, besides the per-target ones.</summary>
    internal static readonly ImmutableArray<string> GeneratedMemberNames = ImmutableArray.Create(
        "SingLoRAOptions", "Adapters", "AdvanceRamp", "SetRampStep", "RampValue", "MergeAdapters", "UnmergeAdapters",
        "SafeMergeAdapters", "FreezeAllButAdapters", "AdapterParameters", "__SingLoRAOptions");

    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        InvalidRank, RankExceedsLayer, RankNotLow, NonSquareTarget, LoneSquareTarget, InvalidAlpha, InvalidDropout,
        NegativeRampSteps, UndefinedEnumValue, EmptyTargets, DuplicateTarget, UnknownTarget, UnadaptableTarget,
        NotPartial, ContainingTypeNotPartial, NotAModule, MemberCollision, RegisterComponentsDeclared, MissingRegisterComponents);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            if (SingLoRASymbols.TryCreate(start.Compilation) is not { } symbols)
                return;
            start.RegisterSymbolStartAction(symbolStart =>
            {
                var type = (INamedTypeSymbol)symbolStart.Symbol;
                if (symbols.FindAttribute(type) is not { } attribute)
                    return;
                var state = new TypeState(symbols, type, attribute);
                symbolStart.RegisterOperationAction(state.OnFieldInitializer, OperationKind.FieldInitializer);
                symbolStart.RegisterOperationAction(state.OnAssignment, OperationKind.SimpleAssignment);
                symbolStart.RegisterOperationAction(state.OnInvocation, OperationKind.Invocation);
                symbolStart.RegisterSymbolEndAction(state.Report);
            }, SymbolKind.NamedType);
        });
    }

    /// <summary>A value assigned to a target field: its static type and, for <c>nn.Linear(in, out)</c>, the sizes when constant.</summary>
    private readonly record struct Creation(ITypeSymbol? Type, long? In, long? Out);

    /// <summary>What the operation actions learn about one annotated class, reported at the symbol's end.</summary>
    private sealed class TypeState
    {
        private readonly SingLoRASymbols _symbols;
        private readonly INamedTypeSymbol _type;
        private readonly AttributeData _attribute;
        private readonly ConcurrentDictionary<IFieldSymbol, ConcurrentQueue<Creation>> _creations = new(SymbolEqualityComparer.Default);
        private int _registerComponentsCalls;

        public TypeState(SingLoRASymbols symbols, INamedTypeSymbol type, AttributeData attribute)
        {
            _symbols = symbols;
            _type = type;
            _attribute = attribute;
        }

        public void OnFieldInitializer(OperationAnalysisContext context)
        {
            var initializer = (IFieldInitializerOperation)context.Operation;
            foreach (var field in initializer.InitializedFields)
                Record(field, initializer.Value);
        }

        public void OnAssignment(OperationAnalysisContext context)
        {
            var assignment = (ISimpleAssignmentOperation)context.Operation;
            if (context.ContainingSymbol is IMethodSymbol { MethodKind: MethodKind.Constructor }
                && assignment.Target is IFieldReferenceOperation { Instance: IInstanceReferenceOperation } reference)
                Record(reference.Field, assignment.Value);
        }

        public void OnInvocation(OperationAnalysisContext context)
        {
            var invocation = (IInvocationOperation)context.Operation;
            if (invocation.TargetMethod is { Name: "RegisterComponents", Parameters.Length: 0 }
                && context.ContainingSymbol is IMethodSymbol { MethodKind: MethodKind.Constructor })
                System.Threading.Interlocked.Increment(ref _registerComponentsCalls);
        }

        private void Record(IFieldSymbol field, IOperation value)
        {
            if (!SymbolEqualityComparer.Default.Equals(field.ContainingType, _type))
                return;
            while (value is IConversionOperation conversion)
                value = conversion.Operand;
            if (value.ConstantValue is { HasValue: true, Value: null })
                return; // null: nothing was created.
            long? din = null, dout = null;
            if (value is IInvocationOperation invocation
                && invocation.TargetMethod.Name == "Linear"
                && SymbolEqualityComparer.Default.Equals(invocation.TargetMethod.ContainingType, _symbols.Nn))
            {
                foreach (var argument in invocation.Arguments)
                {
                    if (argument.Parameter is not { } parameter || parameter.Type.SpecialType is not (SpecialType.System_Int64 or SpecialType.System_Int32))
                        continue;
                    var size = argument.Value.ConstantValue.HasValue ? AnalyzerHelpers.AsInteger(argument.Value.ConstantValue.Value) : null;
                    if (parameter.Ordinal == 0) din = size;
                    else if (parameter.Ordinal == 1) dout = size;
                }
            }
            _creations.GetOrAdd(field, _ => new ConcurrentQueue<Creation>()).Enqueue(new Creation(value.Type, din, dout));
        }

        public void Report(SymbolAnalysisContext context)
        {
            var info = SingLoRAAttributeInfo.Create(_attribute, context.CancellationToken);
            // Only user-written attributes: the analyzers never report on generated code.
            if (info.Syntax is null || AnalyzerHelpers.IsGenerated(info.Syntax.SyntaxTree))
                return;
            var name = _type.Name;
            var identifier = (info.Syntax.FirstAncestorOrSelf<TypeDeclarationSyntax>()?.Identifier.GetLocation()) ?? info.AttributeLocation;
            void Report(DiagnosticDescriptor descriptor, Location location, params object?[] args) =>
                context.ReportDiagnostic(Diagnostic.Create(descriptor, location, args));
            void ReportWith(DiagnosticDescriptor descriptor, Location location, ImmutableDictionary<string, string?> properties, params object?[] args) =>
                context.ReportDiagnostic(Diagnostic.Create(descriptor, location, properties, args));

            // --- The options.
            int? rank = info.Value("Rank") as int?;
            if (rank is null or < 1)
                Report(InvalidRank, info.ValueLocation("Rank"), name, rank is null ? "0 (not set)" : rank.Value.ToString(CultureInfo.InvariantCulture));
            if (info.Value("Alpha") is double alpha && (double.IsNaN(alpha) || double.IsInfinity(alpha) || alpha <= 0))
                Report(InvalidAlpha, info.ValueLocation("Alpha"), Format(alpha), name);
            if (info.Value("Dropout") is double dropout && !(dropout >= 0 && dropout < 1))
                Report(InvalidDropout, info.ValueLocation("Dropout"), Format(dropout), name);
            if (info.Value("RampSteps") is int ramp && ramp < 0)
                Report(NegativeRampSteps, info.ValueLocation("RampSteps"), ramp, name);
            CheckEnum("Scaling", _symbols.ScalingRule);
            CheckEnum("Init", _symbols.AdapterInit);

            void CheckEnum(string argument, INamedTypeSymbol? enumType)
            {
                if (enumType is null || AnalyzerHelpers.AsInteger(info.Value(argument)) is not { } value)
                    return;
                var members = enumType.GetMembers().OfType<IFieldSymbol>().Where(f => f.HasConstantValue).ToArray();
                if (members.Any(f => AnalyzerHelpers.AsInteger(f.ConstantValue) == value))
                    return;
                Report(UndefinedEnumValue, info.ValueLocation(argument), argument, value, name, enumType.Name,
                    string.Join(", ", members.Select(f => enumType.Name + "." + f.Name)));
            }

            // --- The class's shape.
            bool isModule = _symbols.IsModule(_type);
            if (!AnalyzerHelpers.IsPartial(_type))
                Report(NotPartial, identifier, name);
            for (var outer = _type.ContainingType; outer is not null; outer = outer.ContainingType)
            {
                if (!AnalyzerHelpers.IsPartial(outer))
                    Report(ContainingTypeNotPartial, identifier, name, outer.Name);
            }
            if (!isModule)
                Report(NotAModule, identifier, name);

            // --- The targets.
            var entries = info.Targets();
            if (entries.Length == 0)
                Report(EmptyTargets, info.ValueLocation("Targets"), name, "is empty");
            else if (entries.Any(e => e.Name.Length == 0))
                Report(EmptyTargets, info.ValueLocation("Targets"), name, "has an empty entry");

            var adaptableFields = _type.GetMembers().OfType<IFieldSymbol>()
                .Where(f => !f.IsStatic && !f.IsImplicitlyDeclared && _symbols.IsAdaptableFieldType(f.Type))
                .Select(f => f.Name).ToArray();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var sized = new List<(string Target, long In, long Out, Location Location)>();
            var validTargets = new List<(string Name, Location Location)>();
            foreach (var entry in entries)
            {
                if (entry.Name.Length == 0)
                    continue;
                if (!seen.Add(entry.Name))
                {
                    Report(DuplicateTarget, entry.Location, entry.Name, name);
                    continue;
                }
                var member = _type.GetMembers(entry.Name).FirstOrDefault();
                if (member is not IFieldSymbol field)
                {
                    var candidates = adaptableFields.Where(f => !entries.Any(e => e.Name == f)).ToArray();
                    var suggestion = candidates
                        .Select(f => (Field: f, Distance: AnalyzerHelpers.EditDistance(entry.Name, f)))
                        .Where(c => c.Distance <= Math.Max(2, entry.Name.Length / 2))
                        .OrderBy(c => c.Distance).ThenBy(c => c.Field, StringComparer.Ordinal)
                        .Select(c => c.Field).FirstOrDefault();
                    var detail = member is null ? "" : $" ('{entry.Name}' is a {member.Kind.ToString().ToLowerInvariant()})";
                    detail += suggestion is not null ? $"; did you mean '{suggestion}'?"
                        : adaptableFields.Length > 0 ? $"; its adaptable fields are {string.Join(", ", adaptableFields.Select(f => "'" + f + "'"))}"
                        : "; declare a Linear or Module<Tensor, Tensor> field with that name";
                    var properties = ImmutableDictionary<string, string?>.Empty.Add(TargetProperty, entry.Name);
                    if (suggestion is not null)
                        properties = properties.Add(SuggestionProperty, suggestion);
                    ReportWith(UnknownTarget, entry.Location, properties, entry.Name, name, detail);
                    continue;
                }
                if (field.IsStatic)
                {
                    Report(UnadaptableTarget, entry.Location, entry.Name, "is a static field");
                    continue;
                }
                if (!_symbols.IsAdaptableFieldType(field.Type))
                {
                    Report(UnadaptableTarget, entry.Location, entry.Name, $"is a field of type {field.Type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat)}");
                    continue;
                }
                var creations = _creations.TryGetValue(field, out var queue) ? queue.ToArray() : Array.Empty<Creation>();
                var wrong = creations.Select(c => c.Type).FirstOrDefault(t =>
                    t is INamedTypeSymbol { TypeKind: TypeKind.Class, IsAbstract: false } && !_symbols.IsLinear(t) && !_symbols.CanHoldAdapter(t));
                if (wrong is not null)
                {
                    Report(UnadaptableTarget, entry.Location, entry.Name, $"is assigned a {wrong.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat)}, not a Linear");
                    continue;
                }
                validTargets.Add((entry.Name, entry.Location));
                var sizes = creations.Select(c => (c.In, c.Out)).Distinct().ToArray();
                if (sizes.Length == 1 && sizes[0] is { In: { } din, Out: { } dout } && din > 0 && dout > 0)
                    sized.Add((entry.Name, din, dout, entry.Location));
            }

            // --- Rank against the sizes known at compile time.
            if (rank is { } r && r >= 1 && sized.Count > 0)
            {
                long maxRank = sized.Min(s => Math.Min(s.In, s.Out));
                var properties = ImmutableDictionary<string, string?>.Empty.Add(MaxRankProperty, maxRank.ToString(CultureInfo.InvariantCulture));
                foreach (var (target, din, dout, _) in sized)
                {
                    long min = Math.Min(din, dout), n = Math.Max(din, dout);
                    if (r > min)
                        ReportWith(RankExceedsLayer, info.ValueLocation("Rank"), properties, r, min, target, din, dout);
                    else if (n * r >= din * dout)
                        Report(RankNotLow, info.ValueLocation("Rank"), r, target, n * r, din * dout);
                }
            }
            foreach (var (target, din, dout, location) in sized)
            {
                if (din != dout)
                    Report(NonSquareTarget, location, target, din, dout, Math.Max(din, dout));
            }
            if (entries.Length == 1 && sized.Count == 1 && sized[0].In == sized[0].Out)
                Report(LoneSquareTarget, sized[0].Location, sized[0].Target, sized[0].In);

            // --- Members the generator emits.
            var generated = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var member in GeneratedMemberNames)
                generated[member] = member.StartsWith("__", StringComparison.Ordinal) ? "a private field" : "a member of ISingLoRAModule";
            foreach (var (target, location) in validTargets)
            {
                var property = AnalyzerHelpers.AdapterPropertyName(target);
                if (generated.TryGetValue(property, out var earlier))
                {
                    Report(MemberCollision, location, name, property, $"{earlier}, and again for target '{target}'");
                    continue;
                }
                generated[property] = $"the adapter property of target '{target}'";
                generated["__singlora_" + target] = $"the adapter field of target '{target}'";
            }
            foreach (var member in _type.GetMembers())
            {
                if (!AnalyzerHelpers.IsUserDeclared(member) || member.Locations.FirstOrDefault() is not { IsInSource: true } location)
                    continue;
                if (member is IMethodSymbol { Name: "RegisterComponents", Parameters.Length: 0 })
                    Report(RegisterComponentsDeclared, location, name);
                else if (member is not IMethodSymbol { MethodKind: MethodKind.Constructor or MethodKind.StaticConstructor }
                         && generated.TryGetValue(member.Name, out var what))
                    Report(MemberCollision, location, name, member.Name, what);
            }

            // --- The adapters are created by RegisterComponents().
            if (isModule && !_type.IsAbstract && validTargets.Count > 0 && _registerComponentsCalls == 0)
                Report(MissingRegisterComponents, identifier, name);
        }

        private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
    }
}
