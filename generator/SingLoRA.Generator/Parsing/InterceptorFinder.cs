using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using SingLoRA.Common;
using SingLoRA.Generator.Models;

namespace SingLoRA.Generator.Parsing;

/// <summary>
/// Finds, in every partial declaration of an annotated class, the <c>forward(x)</c> and <c>call(x)</c> invocations
/// whose receiver is a <c>Linear</c> target field (<c>q.forward(x)</c>, <c>this.q.call(x)</c>, also in lambdas and
/// local functions), and records where to intercept them.
/// </summary>
internal static class InterceptorFinder
{
    /// <summary>The intercepted calls, grouped into one interceptor per target field, method and declaring type.</summary>
    public static EquatableArray<InterceptorModel> Find(
        INamedTypeSymbol type,
        IReadOnlyDictionary<IFieldSymbol, TargetModel> targets,
        SemanticModel attributeModel,
        CancellationToken cancellationToken)
    {
        if (targets.Count == 0) return EquatableArray<InterceptorModel>.Empty;

        var groups = new List<(string Field, string Method, string Receiver, List<InterceptedCallModel> Calls)>();
        var seenTrees = new HashSet<SyntaxNode>();
        foreach (var reference in type.DeclaringSyntaxReferences)
        {
            var declaration = reference.GetSyntax(cancellationToken);
            if (!seenTrees.Add(declaration)) continue;
            var model = declaration.SyntaxTree == attributeModel.SyntaxTree
                ? attributeModel
                : attributeModel.Compilation.GetSemanticModel(declaration.SyntaxTree);

            foreach (var invocation in declaration.DescendantNodes().OfType<InvocationExpressionSyntax>())
            {
                cancellationToken.ThrowIfCancellationRequested();
                // The shape and signature are the shared rule (common/InterceptableCall.cs) that SLG0014 reports the complement of.
                if (InterceptableCall.Receiver(invocation) is not { } receiverSyntax
                    || model.GetSymbolInfo(receiverSyntax, cancellationToken).Symbol is not IFieldSymbol field
                    || !targets.TryGetValue(field.OriginalDefinition, out var target))
                    continue;
                if (model.GetSymbolInfo(invocation, cancellationToken).Symbol is not IMethodSymbol method || !InterceptableCall.IsInterceptable(invocation, method))
                    continue;
#pragma warning disable RSEXPERIMENTAL002 // GetInterceptableLocation is the supported way to find an interceptable position.
                var location = model.GetInterceptableLocation(invocation, cancellationToken);
#pragma warning restore RSEXPERIMENTAL002
                if (location is null) continue;

                var receiver = method.ContainingType.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);
                var span = ((MemberAccessExpressionSyntax)invocation.Expression).Name.GetLocation().GetLineSpan();
                var display = $"{Path.GetFileName(span.Path)}({span.StartLinePosition.Line + 1},{span.StartLinePosition.Character + 1})";
                var call = new InterceptedCallModel(location.Version, location.Data, display);

                var index = groups.FindIndex(g => g.Field == target.FieldName && g.Method == method.Name && g.Receiver == receiver);
                if (index < 0)
                    groups.Add((target.FieldName, method.Name, receiver, new List<InterceptedCallModel> { call }));
                else
                    groups[index].Calls.Add(call);
            }
        }

        return groups.Select(g => new InterceptorModel(g.Field, g.Method, g.Receiver, g.Calls.ToEquatableArray())).ToEquatableArray();
    }
}
