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
using Microsoft.CodeAnalysis.Formatting;
using SingLoRA.Analyzers;

namespace SingLoRA.CodeFixes;

/// <summary>SLG0020: appends <c>RegisterComponents();</c> to the class's only constructor (offered only when there is exactly one, with a block body).</summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(AddRegisterComponentsCallCodeFixProvider)), Shared]
public sealed class AddRegisterComponentsCallCodeFixProvider : CodeFixProvider
{
    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticDescriptors.MissingRegisterComponentsId);

    /// <inheritdoc />
    public override FixAllProvider GetFixAllProvider() => WellKnownFixAllProviders.BatchFixer;

    /// <inheritdoc />
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        var root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        if (root?.FindToken(context.Span.Start).Parent?.FirstAncestorOrSelf<TypeDeclarationSyntax>() is not { } type)
            return;
        var constructors = type.Members.OfType<ConstructorDeclarationSyntax>().Where(c => !c.Modifiers.Any(SyntaxKind.StaticKeyword)).ToArray();
        if (constructors is not [{ Body: { } body }])
            return;
        foreach (var diagnostic in context.Diagnostics)
        {
            context.RegisterCodeFix(
                CodeAction.Create(
                    "Call RegisterComponents() at the end of the constructor",
                    ct => AddCallAsync(context.Document, body, ct),
                    equivalenceKey: nameof(AddRegisterComponentsCallCodeFixProvider)),
                diagnostic);
        }
    }

    private static async Task<Document> AddCallAsync(Document document, BlockSyntax body, CancellationToken cancellationToken)
    {
        var root = await document.GetSyntaxRootAsync(cancellationToken).ConfigureAwait(false);
        if (root is null)
            return document;
        var call = SyntaxFactory.ParseStatement("RegisterComponents();").WithAdditionalAnnotations(Formatter.Annotation);
        return document.WithSyntaxRoot(root.ReplaceNode(body, body.AddStatements(call)));
    }
}
