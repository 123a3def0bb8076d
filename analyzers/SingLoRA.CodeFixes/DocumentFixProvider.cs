using System.Collections.Immutable;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;

namespace SingLoRA.CodeFixes;

/// <summary>
/// The shape of every SingLoRA code fix: one method that fixes any number of diagnostics of a document at once. A
/// single fix calls it with one diagnostic; Fix All (the IDE's, and <c>dotnet format</c>'s) calls it with all of a
/// document's, so fixes that touch the same attribute or class merge instead of conflicting.
/// </summary>
public abstract class DocumentFixProvider : CodeFixProvider
{
    /// <summary>The title of the fix for <paramref name="diagnostic"/>, or null when it cannot be fixed.</summary>
    protected abstract string? Title(SyntaxNode root, Diagnostic diagnostic);

    /// <summary>The document with every one of <paramref name="diagnostics"/> fixed (those it cannot fix are left alone).</summary>
    protected abstract Task<Document> FixAsync(Document document, SyntaxNode root, ImmutableArray<Diagnostic> diagnostics, CancellationToken cancellationToken);

    /// <summary>The equivalence key shared by all of this provider's fixes (Fix All applies them together).</summary>
    protected string EquivalenceKey => GetType().Name;

    /// <inheritdoc />
    public sealed override FixAllProvider GetFixAllProvider() => FixAllProvider.Create(async (context, document, diagnostics) =>
    {
        var root = await document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        return root is null ? document : await FixAsync(document, root, diagnostics, context.CancellationToken).ConfigureAwait(false);
    });

    /// <inheritdoc />
    public sealed override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null)
            return;
        foreach (var diagnostic in context.Diagnostics)
        {
            if (Title(root, diagnostic) is not { } title)
                continue;
            context.RegisterCodeFix(
                CodeAction.Create(title, ct => FixAsync(context.Document, root, ImmutableArray.Create(diagnostic), ct), EquivalenceKey),
                diagnostic);
        }
    }

    /// <summary>The node a diagnostic is reported on.</summary>
    protected static SyntaxNode? NodeOf(SyntaxNode root, Diagnostic diagnostic) =>
        diagnostic.Location.IsInSource && diagnostic.Location.SourceTree == root.SyntaxTree
            ? root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true)
            : null;

    /// <summary>The distinct non-null values, in order.</summary>
    protected static ImmutableArray<T> Distinct<T>(System.Collections.Generic.IEnumerable<T?> items) where T : class =>
        items.Where(i => i is not null).Select(i => i!).Distinct().ToImmutableArray();
}
