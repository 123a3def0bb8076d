using System;
using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using SingLoRA.Analyzers;

namespace SingLoRA.CodeFixes;

/// <summary>SLG0012: replaces an unknown target with the closest field name (when the value is a plain string literal).</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(ReplaceTargetCodeFixProvider)), Shared]
public sealed class ReplaceTargetCodeFixProvider : CodeFixProvider
{
    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticDescriptors.UnknownTargetId);

    /// <inheritdoc />
    public override FixAllProvider? GetFixAllProvider() => null; // Each replacement rewrites the same literal.

    /// <inheritdoc />
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        foreach (var diagnostic in context.Diagnostics)
        {
            if (!diagnostic.Properties.TryGetValue(DiagnosticDescriptors.TargetProperty, out var target) || target is null
                || !diagnostic.Properties.TryGetValue(DiagnosticDescriptors.SuggestionProperty, out var suggestion) || suggestion is null)
                continue;
            if (root?.FindToken(diagnostic.Location.SourceSpan.Start).Parent?.FirstAncestorOrSelf<AttributeArgumentSyntax>()
                    is not { Expression: LiteralExpressionSyntax literal } || !literal.IsKind(SyntaxKind.StringLiteralExpression))
                continue;
            context.RegisterCodeFix(
                CodeAction.Create(
                    $"Replace '{target}' with '{suggestion}'",
                    ct => ReplaceAsync(context.Document, literal, target, suggestion, ct),
                    equivalenceKey: nameof(ReplaceTargetCodeFixProvider) + ":" + target),
                diagnostic);
        }
    }

    private static async Task<Document> ReplaceAsync(Document document, LiteralExpressionSyntax literal, string target, string suggestion, CancellationToken cancellationToken)
    {
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        if (root is null)
            return document;
        var entries = literal.Token.ValueText.Split(',');
        int index = Array.FindIndex(entries, e => e.Trim() == target);
        if (index < 0)
            return document;
        entries[index] = entries[index].Replace(target, suggestion);
        var text = string.Join(",", entries);
        var replacement = literal.WithToken(SyntaxFactory.Literal(text).WithTriviaFrom(literal.Token));
        return document.WithSyntaxRoot(root.ReplaceNode(literal, replacement));
    }
}
