using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using SingLoRA.Common;
using static SingLoRA.Analyzers.DiagnosticDescriptors;

namespace SingLoRA.Analyzers;

/// <summary>
/// The adapters are created once, when the constructor calls <c>RegisterComponents()</c>, around the layers the
/// targets hold at that moment. SLG0024: a target assigned later (after the call, in another method, from another
/// class) holds a layer without an adapter. SLG0025: a Module-typed target handed to something else before the call
/// (a <c>Sequential</c>, a list, another field) gives it the bare layer, since the swap happens in the field only.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class RegistrationOrderAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(TargetAssignedAfterRegistration, TargetCopiedBeforeRegistration);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            if (KnownSymbols.TryCreate(start.Compilation) is not { } symbols)
                return;
            var targets = new AdaptedTargets(symbols);
            var owners = new ConcurrentDictionary<INamedTypeSymbol, Owner>(SymbolEqualityComparer.Default);

            start.RegisterOperationAction(operationContext =>
            {
                var reference = (IFieldReferenceOperation)operationContext.Operation;
                if (targets.Find(reference, operationContext.CancellationToken) is not var (field, type, kind))
                    return;
                var owner = owners.GetOrAdd(type, t => Owner.Create(t, operationContext.CancellationToken));
                if (!owner.Registers)
                    return;
                var where = operationContext.ContainingSymbol;
                int position = reference.Syntax.SpanStart;

                if (IsAssignmentTarget(reference))
                {
                    if (owner.AssignedAfterRegistration(where, position, operationContext.CancellationToken) is { } place)
                    {
                        var effect = kind == TargetKind.SwappedField ? "runs without an adapter" : "has no adapter, and the intercepted calls on it throw";
                        operationContext.ReportDiagnostic(Diagnostic.Create(TargetAssignedAfterRegistration, reference.Syntax.GetLocation(), field.Name, owner.Type.Name, place, effect));
                    }
                }
                else if (kind == TargetKind.SwappedField && owner.BeforeRegistration(where, position) && HandedOut(reference) is { } use)
                {
                    operationContext.ReportDiagnostic(Diagnostic.Create(TargetCopiedBeforeRegistration, reference.Syntax.GetLocation(), field.Name, owner.Type.Name, use));
                }
            }, OperationKind.FieldReference);
        });
    }

    private static bool IsAssignmentTarget(IFieldReferenceOperation reference) =>
        reference.Parent is IAssignmentOperation assignment && assignment.Target == reference
        || reference.Parent is IDeconstructionAssignmentOperation
        || reference.Parent is ITupleOperation { Parent: IDeconstructionAssignmentOperation };

    /// <summary>A phrase when the field's value is given to something that keeps it; null for calls, member reads and the like.</summary>
    private static string? HandedOut(IFieldReferenceOperation reference)
    {
        IOperation node = reference;
        while (node.Parent is IConversionOperation conversion)
            node = conversion;
        return node.Parent switch
        {
            IArgumentOperation => "passed as an argument",
            ISimpleAssignmentOperation assignment when assignment.Value == node => "stored elsewhere",
            IVariableInitializerOperation => "stored elsewhere",
            IArrayInitializerOperation or ICollectionExpressionOperation => "put in a collection",
            IReturnOperation => "returned",
            _ => null,
        };
    }

    /// <summary>One annotated class: where its constructors call RegisterComponents() (the shared <see cref="RegistrationPoint"/> rule).</summary>
    private sealed class Owner
    {
        private readonly Dictionary<IMethodSymbol, int> _registration = new(SymbolEqualityComparer.Default);
        private readonly List<RegistrationPoint> _points = new();

        private Owner(INamedTypeSymbol type) => Type = type;

        public INamedTypeSymbol Type { get; }

        /// <summary>True when some constructor calls RegisterComponents() (without it, SLG0020 says the adapters never exist).</summary>
        public bool Registers => _registration.Count > 0;

        /// <summary>The constructors of an annotated class with adapted targets, and where they call RegisterComponents().</summary>
        public static Owner Create(INamedTypeSymbol type, System.Threading.CancellationToken cancellationToken)
        {
            var owner = new Owner(type);
            var declarations = type.DeclaringSyntaxReferences.Select(r => r.GetSyntax(cancellationToken)).OfType<TypeDeclarationSyntax>().ToList();
            var chained = new List<IMethodSymbol>();
            foreach (var constructor in type.InstanceConstructors)
            {
                if (constructor.DeclaringSyntaxReferences.FirstOrDefault()?.GetSyntax(cancellationToken) is not ConstructorDeclarationSyntax syntax)
                    continue;
                if (RegistrationPoint.Find(syntax, declarations) is { } point)
                {
                    owner._registration[constructor] = point.Call.SpanStart;
                    owner._points.Add(point);
                }
                else if (syntax.Initializer is { RawKind: (int)SyntaxKind.ThisConstructorInitializer })
                {
                    chained.Add(constructor);
                }
            }
            // A constructor that chains to this(...) runs its body after the chained constructor's RegisterComponents().
            if (owner._registration.Count > 0)
            {
                foreach (var constructor in chained)
                    owner._registration[constructor] = int.MinValue;
            }
            return owner;
        }

        /// <summary>Where an assignment at <paramref name="position"/> in <paramref name="member"/> happens after the registration, as a phrase; else null.</summary>
        public string? AssignedAfterRegistration(ISymbol member, int position, System.Threading.CancellationToken cancellationToken)
        {
            var type = member.ContainingType?.OriginalDefinition;
            if (!SymbolEqualityComparer.Default.Equals(type, Type))
            {
                // Code of another type runs on a built module (nested types of the class included).
                return $"in '{member.ContainingType?.Name}.{member.Name}'";
            }
            switch (member)
            {
                case IMethodSymbol { MethodKind: MethodKind.Constructor } constructor:
                    return _registration.TryGetValue(constructor, out var call) && position > call ? "in the constructor" : null;
                case IFieldSymbol or IPropertySymbol { IsIndexer: false } when member.ContainingSymbol is INamedTypeSymbol:
                    return null; // a field or property initializer runs before every constructor body.
                case IMethodSymbol method when method.DeclaringSyntaxReferences.Any(r => _points.Any(p => p.IsHelperBefore(r.GetSyntax(cancellationToken)))):
                    return null; // a helper the constructor calls before RegisterComponents().
                default:
                    return $"in '{member.Name}'";
            }
        }

        /// <summary>True when <paramref name="position"/> in <paramref name="member"/> runs in a constructor before its RegisterComponents() call.</summary>
        public bool BeforeRegistration(ISymbol member, int position) =>
            member is IMethodSymbol { MethodKind: MethodKind.Constructor } constructor
            && SymbolEqualityComparer.Default.Equals(constructor.ContainingType.OriginalDefinition, Type)
            && _registration.TryGetValue(constructor, out var call) && position < call;
    }
}
