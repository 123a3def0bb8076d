using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Operations;
using SingLoRA.Common;
using static SingLoRA.Analyzers.DiagnosticDescriptors;

namespace SingLoRA.Analyzers;

/// <summary>
/// Reports uses of an adapted target that never reach its adapter. SLG0014: Linear is sealed, so the generator adapts
/// a Linear-typed target by intercepting <c>field.forward(x)</c> and <c>field.call(x)</c> inside the annotated class;
/// every other way of running the layer (an argument, a stored reference, a method group, a call from another class)
/// runs the frozen layer without its adapter. SLG0023: a target's <c>weight</c> fed to <c>functional.linear</c> or a
/// matrix product computes the frozen layer by hand, whatever the field's type.
/// </summary>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class LinearTargetUsageAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(UnreachableLinearUse, TargetWeightBypass);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            if (KnownSymbols.TryCreate(start.Compilation) is not { Linear: not null } symbols)
                return;
            var targets = new AdaptedTargets(symbols);
            start.RegisterOperationAction(operationContext =>
            {
                var reference = (IFieldReferenceOperation)operationContext.Operation;
                if (targets.Find(reference, operationContext.CancellationToken) is not var (field, owner, kind))
                    return;
                if (WeightBypass(reference) is { } computation)
                    operationContext.ReportDiagnostic(Diagnostic.Create(TargetWeightBypass, reference.Parent!.Syntax.GetLocation(), field.Name, owner.Name, computation));
                else if (kind == TargetKind.Intercepted && Describe(reference, owner, operationContext.ContainingSymbol) is { } use)
                    operationContext.ReportDiagnostic(Diagnostic.Create(UnreachableLinearUse, reference.Syntax.GetLocation(), field.Name, owner.Name, use));
            }, OperationKind.FieldReference);
        });
    }

    /// <summary>
    /// When <paramref name="reference"/> is the receiver of <c>.weight</c> and that weight (possibly transposed) goes into
    /// <c>functional.linear</c> or a matrix product, a phrase naming that computation; otherwise null.
    /// </summary>
    private static string? WeightBypass(IFieldReferenceOperation reference)
    {
        if (reference.Parent is not IPropertyReferenceOperation { Property.Name: "weight" } weight || weight.Instance != reference)
            return null;
        IOperation node = weight;
        while (true)
        {
            var parent = node.Parent;
            if (parent is IConversionOperation or IParenthesizedOperation)
                node = parent;
            else if (parent is IPropertyReferenceOperation { Property.Name: "T" or "mT" or "H" or "mH" } p && p.Instance == node)
                node = parent;
            else if (parent is IInvocationOperation { TargetMethod.Name: "t" or "transpose" or "contiguous" or "to" or "type" or "detach" } i && i.Instance == node)
                node = parent;
            else
                break;
        }
        var consumer = node.Parent is IArgumentOperation argument ? argument.Parent : node.Parent;
        if (consumer is not IInvocationOperation invocation)
            return null;
        var method = invocation.TargetMethod;
        bool isInstance = invocation.Instance == node;
        bool isArgument = node.Parent is IArgumentOperation;
        if (method.Name == "linear" && isArgument && method.ContainingType?.Name == "functional")
            return "functional.linear(...)";
        if (method.Name is "matmul" or "mm" or "bmm" or "addmm" or "mv" or "einsum" or "tensordot" or "inner" && (isInstance || isArgument)
            && method.ContainingNamespace?.ToDisplayString() == "TorchSharp")
            return $"{method.Name}(...)";
        return null;
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
        switch (parent)
        {
            case IInvocationOperation invocation when invocation.Instance == node:
                if (!InterceptableCall.IsForwardPass(invocation.TargetMethod.Name))
                    return null; // q.to(device), q.parameters(), ...: not a forward pass.
                if (!inOwner)
                    return $"calling {invocation.TargetMethod.Name} from '{containingSymbol.ContainingType?.Name}'";
                // Inside the class: exactly the calls the generator intercepts (the shared rule) reach the adapter.
                return invocation.Syntax is InvocationExpressionSyntax syntax && InterceptableCall.IsInterceptable(syntax, invocation.TargetMethod)
                    ? null
                    : $"a {invocation.TargetMethod.Name} call the interceptors do not cover (not receiver.{invocation.TargetMethod.Name}(x) with a Tensor)";
            case IMethodReferenceOperation method when method.Instance == node:
                return InterceptableCall.IsForwardPass(method.Method.Name) ? $"the method group '{reference.Field.Name}.{method.Method.Name}'" : null;
            case IMemberReferenceOperation member when member.Instance == node:
                return null; // q.weight, q.in_features, ... (a weight fed to a product is SLG0023)
            case IConditionalAccessOperation conditional when conditional.Operation == node:
                return "a null-conditional access (?.), which the interceptors do not cover,";
            case ISimpleAssignmentOperation assignment when assignment.Target == node:
                return null; // creating or replacing the layer (replacing it late is SLG0024).
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
