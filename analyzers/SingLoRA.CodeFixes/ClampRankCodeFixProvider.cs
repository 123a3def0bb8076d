using System.Collections.Immutable;
using System.Composition;
using System.Globalization;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using SingLoRA.Analyzers;

namespace SingLoRA.CodeFixes;

/// <summary>SLG0002: sets the rank to the largest value every target with known sizes accepts.</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(ClampRankCodeFixProvider)), Shared]
public sealed class ClampRankCodeFixProvider : CodeFixProvider
{
    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticDescriptors.RankExceedsLayerId);

    /// <inheritdoc />
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc />
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        foreach (var diagnostic in context.Diagnostics)
        {
            if (!diagnostic.Properties.TryGetValue(DiagnosticDescriptors.MaxRankProperty, out var text)
                || !int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var maxRank) || maxRank < 1)
                continue;
            if (root?.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true)?.FirstAncestorOrSelf<AttributeArgumentSyntax>() is not { } argument)
                continue;
            context.RegisterCodeFix(
                CodeAction.Create(
                    $"Set Rank to {maxRank}",
                    ct => ClampAsync(context.Document, argument, maxRank, ct),
                    equivalenceKey: nameof(ClampRankCodeFixProvider)),
                diagnostic);
        }
    }

    private static async Task<Document> ClampAsync(Document document, AttributeArgumentSyntax argument, int maxRank, CancellationToken cancellationToken)
    {
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        if (root is null)
            return document;
        var value = SyntaxFactory.LiteralExpression(SyntaxKind.NumericLiteralExpression, SyntaxFactory.Literal(maxRank))
            .WithTriviaFrom(argument.Expression);
        return document.WithSyntaxRoot(root.ReplaceNode(argument.Expression, value));
    }
}
