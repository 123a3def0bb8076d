using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using SingLoRA.Analyzers;
using SingLoRA.Common;

namespace SingLoRA.CodeFixes;

/// <summary>
/// SLG0031 on a <c>RegisterComponents()</c> call: moves the constructor's assignment of the <c>LayerIndex</c> member that
/// comes after the call (in the same block) to just before it. Offered only when there is such an assignment; one that
/// is missing altogether needs the user to say what the index is.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(MoveLayerIndexAssignmentCodeFixProvider)), Shared]
public sealed class MoveLayerIndexAssignmentCodeFixProvider : DocumentFixProvider
{
    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticDescriptors.LayerIndexAssignedLateId);

    /// <inheritdoc />
    protected override string? Title(SyntaxNode root, Diagnostic diagnostic) =>
        Move(root, diagnostic) is { } move ? $"Assign '{move.Member}' before RegisterComponents()" : null;

    /// <inheritdoc />
    protected override Task<Document> FixAsync(Document document, SyntaxNode root, ImmutableArray<Diagnostic> diagnostics, CancellationToken cancellationToken)
    {
        var moves = diagnostics.Select(d => Move(root, d)).Where(m => m is not null).Select(m => m!.Value)
            .GroupBy(m => m.Block).ToDictionary(g => g.Key, g => g.ToList());
        var fixedRoot = root.ReplaceNodes(moves.Keys, (original, _) =>
        {
            var statements = original.Statements.ToList();
            foreach (var (_, call, assignment, _) in moves[original].Distinct())
            {
                statements.Remove(assignment);
                // The assignment keeps its own trivia (indentation, its comment); the call keeps its own comment.
                statements.Insert(statements.IndexOf(call), assignment);
            }
            return original.WithStatements(SyntaxFactory.List(statements));
        });
        return Task.FromResult(document.WithSyntaxRoot(fixedRoot));
    }

    private static (BlockSyntax Block, StatementSyntax Call, StatementSyntax Assignment, string Member)? Move(SyntaxNode root, Diagnostic diagnostic)
    {
        if (!diagnostic.Properties.TryGetValue(DiagnosticDescriptors.LayerIndexMemberProperty, out var member) || member is null
            || NodeOf(root, diagnostic)?.FirstAncestorOrSelf<InvocationExpressionSyntax>() is not { } invocation
            || !RegistrationPoint.IsRegistrationCall(invocation)
            || invocation.Parent is not ExpressionStatementSyntax { Parent: BlockSyntax block } call)
            return null;
        // The assignment to move: a statement of the same block after the call that assigns the member (the rule SLG0031 counts by).
        var assignment = block.Statements.SkipWhile(s => s != call).Skip(1).OfType<ExpressionStatementSyntax>().FirstOrDefault(s =>
            s.Expression is AssignmentExpressionSyntax { RawKind: (int)SyntaxKind.SimpleAssignmentExpression } a && RegistrationPoint.Assigns(a, member));
        return assignment is null ? null : (block, call, assignment, member);
    }
}
