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
using SingLoRA.Common;
using static SingLoRA.Analyzers.DiagnosticDescriptors;

namespace SingLoRA.Analyzers;

/// <summary>
/// Checks a [SingLoRA] class as a whole: the attribute's values, and every class or target the generator skips, with
/// the reason the shared <see cref="ModuleClassifier"/> gives (the generator decides from the same answer); then the
/// members the generator emits, and that a constructor calls <c>RegisterComponents()</c>. Layer sizes are checked by
/// <see cref="LayerSizeAnalyzer"/>.
/// </summary>
[DiagnosticAnalyzer(Microsoft.CodeAnalysis.LanguageNames.CSharp)]
public sealed class SingLoRAModuleAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        InvalidRank, InvalidAlpha, InvalidDropout, NegativeRampLength, NoRamp, UndefinedEnumValue, EmptyTargets, DuplicateTarget,
        UnknownTarget, UnadaptableTarget, NotPartial, ContainingTypeNotPartial, NotAModule, MemberCollision,
        RegisterComponentsDeclared, MissingRegisterComponents, AnnotatedBaseClass, InvalidLayerIndex, InvalidLayers, LayersWithoutLayerIndex,
        LayerIndexAssignedLate);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            if (KnownSymbols.TryCreate(start.Compilation) is not { } symbols)
                return;
            start.RegisterSymbolStartAction(symbolStart =>
            {
                var type = (INamedTypeSymbol)symbolStart.Symbol;
                if (symbols.FindAttribute(type) is not { } attribute)
                    return;
                var state = new TypeState(symbols, type, attribute);
                symbolStart.RegisterOperationAction(state.OnFieldInitializer, OperationKind.FieldInitializer);
                symbolStart.RegisterOperationAction(state.OnAssignment, OperationKind.SimpleAssignment);
                symbolStart.RegisterSymbolEndAction(state.Report);
            }, SymbolKind.NamedType);
        });
    }

    /// <summary>What the operation actions learn about one annotated class, reported at the symbol's end.</summary>
    private sealed class TypeState
    {
        private readonly KnownSymbols _symbols;
        private readonly INamedTypeSymbol _type;
        private readonly AttributeData _attribute;
        private readonly ConcurrentDictionary<IFieldSymbol, ConcurrentQueue<ITypeSymbol>> _assignedTypes = new(SymbolEqualityComparer.Default);

        public TypeState(KnownSymbols symbols, INamedTypeSymbol type, AttributeData attribute)
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

        /// <summary>Records the static type of what is assigned to a field of the class (null assignments create nothing).</summary>
        private void Record(IFieldSymbol field, IOperation value)
        {
            if (!SymbolEqualityComparer.Default.Equals(field.ContainingType, _type))
                return;
            while (value is IConversionOperation conversion)
                value = conversion.Operand;
            if (value.ConstantValue is { HasValue: true, Value: null } || value.Type is null)
                return;
            _assignedTypes.GetOrAdd(field, _ => new ConcurrentQueue<ITypeSymbol>()).Enqueue(value.Type);
        }

        public void Report(SymbolAnalysisContext context)
        {
            var info = SingLoRAAttributeInfo.Create(_attribute, context.CancellationToken);
            // Only user-written attributes: the analyzers never report on generated code.
            if (info.Syntax is null || GeneratedCode.IsGenerated(info.Syntax.SyntaxTree))
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
            if (info.Value("RampLength") is long ramp && ramp < 0)
                Report(NegativeRampLength, info.ValueLocation("RampLength"), ramp, name);
            if (info.Value("RampLength") is 0L)
                Report(NoRamp, info.ValueLocation("RampLength"), name);
            CheckEnum("Scaling", _symbols.ScalingRule);
            CheckEnum("Init", _symbols.AdapterInit);
            CheckEnum("Precision", _symbols.AdapterPrecision);

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

            // --- The class: every reason the generator skips it.
            var classification = ModuleClassifier.Classify(_type, _attribute, _symbols, context.CancellationToken);
            foreach (var problem in classification.Problems)
            {
                switch (problem.DiagnosticId)
                {
                    case DiagnosticIds.NotPartial: Report(NotPartial, identifier, name); break;
                    case DiagnosticIds.ContainingTypeNotPartial: Report(ContainingTypeNotPartial, identifier, name, problem.Detail); break;
                    case DiagnosticIds.NotAModule: Report(NotAModule, identifier, name, problem.Detail); break;
                    case DiagnosticIds.AnnotatedBaseClass: Report(AnnotatedBaseClass, identifier, name, problem.Detail); break;
                    case DiagnosticIds.InvalidLayerIndex: Report(InvalidLayerIndex, info.ValueLocation("LayerIndex"), info.Value("LayerIndex"), name, problem.Detail); break;
                    case DiagnosticIds.InvalidLayers: Report(InvalidLayers, info.ValueLocation("Layers"), name, problem.Detail); break;
                    case DiagnosticIds.LayersWithoutLayerIndex: Report(LayersWithoutLayerIndex, info.ValueLocation("Layers"), name); break;
                    case DiagnosticIds.RegisterComponentsDeclared:
                        foreach (var method in _type.GetMembers(GeneratedNames.RegisterComponents).Where(m => m is IMethodSymbol { Parameters.Length: 0 } && GeneratedCode.IsUserDeclared(m)))
                        {
                            foreach (var location in method.Locations.Where(l => l.IsInSource && !GeneratedCode.IsGenerated(l.SourceTree!)))
                                Report(RegisterComponentsDeclared, location, name);
                        }
                        break;
                    default: throw new InvalidOperationException("The classifier gave a class problem the analyzer does not report: " + problem.DiagnosticId);
                }
            }

            // --- The targets: every entry the generator skips, and why.
            var verdicts = classification.Targets;
            if (verdicts.Length == 0)
                Report(EmptyTargets, info.ValueLocation("Targets"), name, "is empty");
            else if (verdicts.Any(v => v.SkipId == DiagnosticIds.EmptyTargets))
                Report(EmptyTargets, info.ValueLocation("Targets"), name, "has an empty entry");
            var adaptableFields = _type.GetMembers().OfType<IFieldSymbol>()
                .Where(f => !f.IsStatic && !f.IsImplicitlyDeclared && _symbols.IsAdaptableFieldType(f.Type))
                .Select(f => f.Name).ToArray();
            foreach (var verdict in verdicts)
            {
                var entry = verdict.Entry;
                var location = info.EntryLocation(entry);
                switch (verdict.SkipId)
                {
                    case null:
                        CheckAssignedTypes(verdict, location);
                        break;
                    case DiagnosticIds.EmptyTargets:
                        break; // reported once above
                    case DiagnosticIds.DuplicateTarget:
                        Report(DuplicateTarget, location, entry.Name, name);
                        break;
                    case DiagnosticIds.UnknownTarget:
                        ReportUnknown(verdict, location);
                        break;
                    case DiagnosticIds.UnadaptableTarget:
                        Report(UnadaptableTarget, location, entry.Name, verdict.Detail);
                        break;
                    case DiagnosticIds.MemberCollision:
                        Report(MemberCollision, location, name, verdict.AdapterProperty, $"{verdict.Detail}, and again for target '{entry.Name}'");
                        break;
                    default:
                        throw new InvalidOperationException("The classifier gave a target verdict the analyzer does not report: " + verdict.SkipId);
                }
            }

            void ReportUnknown(TargetVerdict verdict, Location location)
            {
                var entry = verdict.Entry;
                var candidates = adaptableFields.Where(f => !verdicts.Any(v => v.Entry.Name == f)).ToArray();
                var suggestion = candidates
                    .Select(f => (Field: f, Distance: AnalyzerHelpers.EditDistance(entry.Name, f)))
                    .Where(c => c.Distance <= Math.Max(2, entry.Name.Length / 2))
                    .OrderBy(c => c.Distance).ThenBy(c => c.Field, StringComparer.Ordinal)
                    .Select(c => c.Field).FirstOrDefault();
                var detail = verdict.Detail;
                detail += suggestion is not null ? $"; did you mean '{suggestion}'?"
                    : adaptableFields.Length > 0 ? $"; its adaptable fields are {string.Join(", ", adaptableFields.Select(f => "'" + f + "'"))}"
                    : "; declare a Linear or Module<Tensor, Tensor> field with that name";
                var properties = ImmutableDictionary<string, string?>.Empty.Add(TargetProperty, entry.Name);
                if (suggestion is not null)
                    properties = properties.Add(SuggestionProperty, suggestion);
                ReportWith(UnknownTarget, location, properties, entry.Name, name, detail);
            }

            void CheckAssignedTypes(TargetVerdict verdict, Location location)
            {
                // An adapted Module-typed target that is given another module: Inject would throw when the class is built.
                if (verdict.Field is null || !_assignedTypes.TryGetValue(verdict.Field, out var types))
                    return;
                var wrong = types.FirstOrDefault(t =>
                    t is INamedTypeSymbol { TypeKind: TypeKind.Class, IsAbstract: false } && !_symbols.IsLinear(t) && !_symbols.CanHoldAdapter(t));
                if (wrong is not null)
                    Report(UnadaptableTarget, location, verdict.Entry.Name, $"is assigned a {wrong.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat)}, not a Linear");
            }

            // --- The adapters are created by RegisterComponents() (checked as soon as the class is a module, partial or not).
            var constructors = Constructors(context.CancellationToken);
            var declarations = _type.DeclaringSyntaxReferences.Select(r => r.GetSyntax(context.CancellationToken)).OfType<TypeDeclarationSyntax>().ToList();
            if (!_type.IsAbstract && !constructors.Any(c => RegistrationPoint.CallIn(c) is not null) && classification.AdaptableTargets.Any()
                && !classification.Problems.Any(p => p.DiagnosticId is DiagnosticIds.NotAModule or DiagnosticIds.RegisterComponentsDeclared))
                Report(MissingRegisterComponents, identifier, name);

            // --- The layer index is read by RegisterComponents(): it must be set before the call.
            if (classification.Layers.IndexMember is { } indexMember && classification.AdaptableTargets.Any())
            {
                var properties = ImmutableDictionary<string, string?>.Empty.Add(LayerIndexMemberProperty, indexMember.Name);
                foreach (var late in LayerIndexAssignedLate(indexMember, constructors, declarations, context.CancellationToken))
                    ReportWith(DiagnosticDescriptors.LayerIndexAssignedLate, late, properties, name, indexMember.Name, "0");
            }

            if (!classification.IsGenerated)
                return;

            // --- Members the generator emits, against the user's.
            var generated = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var member in GeneratedNames.ClassMembers)
                generated[member] = member.StartsWith("__", StringComparison.Ordinal) ? "a private field" : "a member of ISingLoRAModule";
            var adapted = classification.Adapted.ToArray();
            foreach (var target in adapted)
                generated[target.AdapterProperty] = $"the adapter property of target '{target.Entry.Name}'";
            foreach (var member in _type.GetMembers())
            {
                if (!GeneratedCode.IsUserDeclared(member) || member.Locations.FirstOrDefault() is not { IsInSource: true } location)
                    continue;
                if (member is not IMethodSymbol { MethodKind: MethodKind.Constructor or MethodKind.StaticConstructor }
                    && generated.TryGetValue(member.Name, out var what))
                    Report(MemberCollision, location, name, member.Name, what);
            }
        }

        /// <summary>The constructors declared in the class's source (a primary constructor has no body to call from).</summary>
        private List<ConstructorDeclarationSyntax> Constructors(System.Threading.CancellationToken cancellationToken) =>
            _type.InstanceConstructors.Select(c => c.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken))
                .OfType<ConstructorDeclarationSyntax>().ToList();

        /// <summary>
        /// The RegisterComponents() calls of constructors that do not assign <paramref name="member"/> before the call,
        /// directly or in a helper they call first (the shared <see cref="RegistrationPoint"/> rule); a constructor where
        /// that cannot be known (a virtual method, <c>this</c> handed out) is not reported. Only a field or auto-property of
        /// the class itself without an initializer is checked: an initializer (a primary constructor's parameter, say) runs
        /// first, a computed property needs no assignment, and a base class's constructor runs before this one's body.
        /// </summary>
        private IEnumerable<Location> LayerIndexAssignedLate(ISymbol member, List<ConstructorDeclarationSyntax> constructors, List<TypeDeclarationSyntax> declarations,
            System.Threading.CancellationToken cancellationToken)
        {
            if (!SymbolEqualityComparer.Default.Equals(member.ContainingType, _type) || HasInitializerOrBody(member, cancellationToken))
                yield break;
            foreach (var constructor in constructors)
            {
                if (RegistrationPoint.Find(constructor, declarations) is { } point && point.AssignsBefore(member.Name) == MemberAssignment.NotAssigned)
                    yield return point.Call.GetLocation();
            }
        }

        private static bool HasInitializerOrBody(ISymbol member, System.Threading.CancellationToken cancellationToken)
        {
            foreach (var reference in member.DeclaringSyntaxReferences)
            {
                switch (reference.GetSyntax(cancellationToken))
                {
                    case VariableDeclaratorSyntax { Initializer: not null }:
                        return true;
                    case PropertyDeclarationSyntax property when property.Initializer is not null || property.ExpressionBody is not null
                        || property.AccessorList?.Accessors.Any(a => a.Body is not null || a.ExpressionBody is not null) == true:
                        return true;
                }
            }
            return false;
        }

        private static string Format(double value) => value.ToString("R", CultureInfo.InvariantCulture);
    }
}
