using System;
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

namespace SingLoRA.CodeFixes;

/// <summary>SLG0012: replaces an unknown target with the closest field name (when the value is a plain string literal).</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(ReplaceTargetCodeFixProvider)), Shared]
public sealed class ReplaceTargetCodeFixProvider : DocumentFixProvider
{
    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticDescriptors.UnknownTargetId);

    /// <inheritdoc />
    protected override string? Title(SyntaxNode root, Diagnostic diagnostic) =>
        Replacement(root, diagnostic) is { } r ? $"Replace '{r.Target}' with '{r.Suggestion}'" : null;

    /// <inheritdoc />
    protected override Task<Document> FixAsync(Document document, SyntaxNode root, ImmutableArray<Diagnostic> diagnostics, CancellationToken cancellationToken)
    {
        // Every replacement in one literal is applied to it together (Fix All on "qq, kk" fixes both).
        var byLiteral = diagnostics.Select(d => Replacement(root, d)).Where(r => r is not null).Select(r => r!.Value)
            .GroupBy(r => r.Literal).ToDictionary(g => g.Key, g => g.ToList());
        var fixedRoot = root.ReplaceNodes(byLiteral.Keys, (original, _) =>
        {
            var entries = original.Token.ValueText.Split(',');
            foreach (var (_, target, suggestion) in byLiteral[original])
            {
                int index = Array.FindIndex(entries, e => e.Trim() == target);
                if (index >= 0)
                    entries[index] = entries[index].Replace(target, suggestion);
            }
            return original.WithToken(SyntaxFactory.Literal(string.Join(",", entries)).WithTriviaFrom(original.Token));
        });
        return Task.FromResult(document.WithSyntaxRoot(fixedRoot));
    }

    private static (LiteralExpressionSyntax Literal, string Target, string Suggestion)? Replacement(SyntaxNode root, Diagnostic diagnostic)
    {
        if (!diagnostic.Properties.TryGetValue(DiagnosticDescriptors.TargetProperty, out var target) || target is null
            || !diagnostic.Properties.TryGetValue(DiagnosticDescriptors.SuggestionProperty, out var suggestion) || suggestion is null)
            return null;
        return NodeOf(root, diagnostic)?.FirstAncestorOrSelf<AttributeArgumentSyntax>() is { Expression: LiteralExpressionSyntax literal }
               && literal.IsKind(SyntaxKind.StringLiteralExpression)
            ? (literal, target, suggestion) : null;
    }
}
