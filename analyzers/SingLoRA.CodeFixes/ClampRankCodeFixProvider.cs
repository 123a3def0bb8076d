using System.Collections.Immutable;
using System.Composition;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using SingLoRA.Analyzers;

namespace SingLoRA.CodeFixes;

/// <summary>
/// SLG0002 / SLG0003 on the attribute: sets the rank to the value the analyzer computed, the largest power of two at
/// most half of every target's min(d_in, d_out): valid and low rank, so the fixed code has neither diagnostic.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(ClampRankCodeFixProvider)), Shared]
public sealed class ClampRankCodeFixProvider : DocumentFixProvider
{
    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } =
        ImmutableArray.Create(DiagnosticDescriptors.RankExceedsLayerId, DiagnosticDescriptors.RankNotLowId);

    /// <inheritdoc />
    protected override string? Title(SyntaxNode root, Diagnostic diagnostic) =>
        Target(root, diagnostic) is { } target ? $"Set Rank to {target.Rank}" : null;

    /// <inheritdoc />
    protected override Task<Document> FixAsync(Document document, SyntaxNode root, ImmutableArray<Diagnostic> diagnostics, CancellationToken cancellationToken)
    {
        // Several diagnostics on one attribute (one per target) agree on the rank; take the smallest to be safe.
        var ranks = diagnostics.Select(d => Target(root, d)).Where(t => t is not null).Select(t => t!.Value)
            .GroupBy(t => t.Argument).ToDictionary(g => g.Key, g => g.Min(t => t.Rank));
        var fixedRoot = root.ReplaceNodes(ranks.Keys.Select(a => a.Expression), (original, _) =>
        {
            var argument = (AttributeArgumentSyntax)original.Parent!;
            return SyntaxFactory.LiteralExpression(SyntaxKind.NumericLiteralExpression, SyntaxFactory.Literal(ranks[argument])).WithTriviaFrom(original);
        });
        return Task.FromResult(document.WithSyntaxRoot(fixedRoot));
    }

    private static (AttributeArgumentSyntax Argument, int Rank)? Target(SyntaxNode root, Diagnostic diagnostic)
    {
        if (!diagnostic.Properties.TryGetValue(DiagnosticDescriptors.MaxRankProperty, out var text)
            || !int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var rank) || rank < 1)
            return null;
        return NodeOf(root, diagnostic)?.FirstAncestorOrSelf<AttributeArgumentSyntax>() is { NameEquals.Name.Identifier.ValueText: "Rank" } argument
            ? (argument, rank) : null;
    }
}
