using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using static SingLoRA.Analyzers.DiagnosticDescriptors;

namespace SingLoRA.Analyzers;

/// <summary>
/// Reports uses of a <c>Linear</c>-typed target that the generated interceptors cannot reach. Linear is sealed, so the
/// generator adapts such a field by intercepting <c>field.forward(x)</c> and <c>field.call(x)</c> inside the annotated
/// class; every other way of running the layer (an argument, a stored reference, a method group, a call from another
/// class) runs the frozen layer without its adapter.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class LinearTargetUsageAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(UnreachableLinearUse);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            if (SingLoRASymbols.TryCreate(start.Compilation) is not { Linear: not null } symbols)
                return;
            var targetsByType = new ConcurrentDictionary<INamedTypeSymbol, ImmutableHashSet<string>>(SymbolEqualityComparer.Default);
            start.RegisterOperationAction(operationContext =>
            {
                var reference = (IFieldReferenceOperation)operationContext.Operation;
                var field = reference.Field;
                if (field.IsStatic || !symbols.IsLinear(field.Type))
                    return;
                var owner = field.ContainingType.OriginalDefinition;
                var targets = targetsByType.GetOrAdd(owner, type => symbols.FindAttribute(type) is { } attribute
                    ? SingLoRAAttributeInfo.Create(attribute, operationContext.CancellationToken).Targets().Select(t => t.Name).ToImmutableHashSet()
                    : ImmutableHashSet<string>.Empty);
                if (!targets.Contains(field.Name))
                    return;
                if (Describe(reference, owner, operationContext.ContainingSymbol) is { } use)
                    operationContext.ReportDiagnostic(Diagnostic.Create(UnreachableLinearUse, reference.Syntax.GetLocation(), field.Name, owner.Name, use));
            }, OperationKind.FieldReference);
        });
    }

    /// <summary>Null when the use is reachable (or harmless); otherwise a phrase naming the use.</summary>
    private static string? Describe(IFieldReferenceOperation reference, INamedTypeSymbol owner, ISymbol containingSymbol)
    {
        // Look through implicit conversions (q passed where a Module is expected, q compared as an object).
        IOperation node = reference;
        while (node.Parent is IConversionOperation { IsImplicit: true } conversion)
            node = conversion;
        var parent = node.Parent;
        // The generator intercepts calls written anywhere inside the class's declarations, nested types included.
        bool inOwner = false;
        for (var type = containingSymbol.ContainingType; type is not null && !inOwner; type = type.ContainingType)
            inOwner = SymbolEqualityComparer.Default.Equals(type.OriginalDefinition, owner);
        static bool IsCall(string name) => name is "forward" or "call";
        switch (parent)
        {
            case IInvocationOperation invocation when invocation.Instance == node:
                if (!IsCall(invocation.TargetMethod.Name))
                    return null; // q.to(device), q.parameters(), ...: not a forward pass.
                return inOwner ? null : $"calling {invocation.TargetMethod.Name} from '{containingSymbol.ContainingType?.Name}'";
            case IMethodReferenceOperation method when method.Instance == node:
                return IsCall(method.Method.Name) ? $"the method group '{reference.Field.Name}.{method.Method.Name}'" : null;
            case IMemberReferenceOperation member when member.Instance == node:
                return null; // q.weight, q.in_features, ...
            case IConditionalAccessOperation conditional when conditional.Operation == node:
                return "a null-conditional access (?.), which the interceptors do not cover,";
            case ISimpleAssignmentOperation assignment when assignment.Target == node:
                return null; // creating or replacing the layer.
            case INameOfOperation:
            case IIsPatternOperation:
            case IBinaryOperation:
                return null;
            case IArgumentOperation:
                return "passing it as an argument";
            case ISimpleAssignmentOperation:
            case IVariableInitializerOperation:
            case IFieldInitializerOperation:
            case IPropertyInitializerOperation:
                return "storing it elsewhere";
            case IReturnOperation:
                return "returning it";
            case IArrayInitializerOperation:
            case ICollectionExpressionOperation:
                return "putting it in a collection";
            default:
                return "this use";
        }
    }
}
