using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace SingLoRA.Common;

/// <summary>
/// Which calls of a <c>Linear</c> target the generator intercepts: <c>receiver.forward(x)</c> or <c>receiver.call(x)</c>
/// (a simple member access; parentheses and <c>!</c> around the receiver allowed) whose method is an instance
/// <c>Tensor forward(Tensor)</c> / <c>Tensor call(Tensor)</c>, written inside the annotated class, where the receiver is
/// the target field. The generator intercepts exactly these (<c>InterceptorFinder</c>); SLG0014 reports every other
/// forward pass of the target (<c>LinearTargetUsageAnalyzer</c>), so each call is one or the other by construction.
/// Uses Roslyn: the runtime does not link this file.
/// </summary>
internal static class InterceptableCall
{
    /// <summary>True for the names of a forward pass: <c>forward</c> and <c>call</c>.</summary>
    public static bool IsForwardPass(string methodName) => methodName is "forward" or "call";

    /// <summary>
    /// The receiver of <c>receiver.forward(...)</c> or <c>receiver.call(...)</c>, without parentheses and <c>!</c>; null
    /// for any other shape (a null-conditional call, a method group, another name).
    /// </summary>
    public static ExpressionSyntax? Receiver(InvocationExpressionSyntax invocation)
    {
        if (invocation.Expression is not MemberAccessExpressionSyntax
            {
                RawKind: (int)SyntaxKind.SimpleMemberAccessExpression,
                Name: IdentifierNameSyntax { Identifier.ValueText: var name },
            } access
            || !IsForwardPass(name))
            return null;
        var receiver = access.Expression;
        while (true)
        {
            switch (receiver)
            {
                case ParenthesizedExpressionSyntax p: receiver = p.Expression; break;
                case PostfixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.SuppressNullableWarningExpression } s: receiver = s.Operand; break;
                default: return receiver;
            }
        }
    }

    /// <summary>
    /// True when <paramref name="invocation"/>, calling <paramref name="method"/>, has the intercepted shape: see
    /// <see cref="Receiver"/> and <see cref="IsTensorToTensor"/>. Whether the receiver is a target and the call is inside
    /// the annotated class is the caller's part.
    /// </summary>
    public static bool IsInterceptable(InvocationExpressionSyntax invocation, IMethodSymbol? method) =>
        Receiver(invocation) is not null && method is not null && IsTensorToTensor(method);

    /// <summary>An instance <c>Tensor forward(Tensor)</c> / <c>Tensor call(Tensor)</c>: what the adapter also offers.</summary>
    public static bool IsTensorToTensor(IMethodSymbol method) =>
        !method.IsStatic
        && method.MethodKind == MethodKind.Ordinary
        && method.Parameters.Length == 1
        && method.Parameters[0].RefKind == RefKind.None
        && IsTensor(method.Parameters[0].Type)
        && IsTensor(method.ReturnType)
        && !method.ReturnsByRef && !method.ReturnsByRefReadonly;

    private static bool IsTensor(ITypeSymbol type) =>
        type is INamedTypeSymbol { Name: "Tensor", Arity: 0, ContainingType: { Name: "torch", ContainingType: null } torch }
        && torch.ContainingNamespace is { Name: "TorchSharp", ContainingNamespace.IsGlobalNamespace: true };
}
