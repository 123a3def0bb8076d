using System.Collections.Generic;
using System.Collections.Immutable;
using System.Composition;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Formatting;
using SingLoRA.Analyzers;

namespace SingLoRA.CodeFixes;

/// <summary>
/// SLG0020: makes the constructors call <c>RegisterComponents()</c>. A class with constructors gets the call at the
/// end of each one that does not chain to <c>this(...)</c>. A class with a primary constructor has no body to call it
/// from, so its primary constructor becomes an ordinary one: same parameters and base arguments, the field
/// initializers that use the parameters moved into the body (in order), a field for each parameter that members
/// still use, then the call.
/// </summary>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(AddRegisterComponentsCallCodeFixProvider)), Shared]
public sealed class AddRegisterComponentsCallCodeFixProvider : DocumentFixProvider
{
    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticDescriptors.MissingRegisterComponentsId);

    /// <inheritdoc />
    protected override string? Title(SyntaxNode root, Diagnostic diagnostic) => Declaration(root, diagnostic) switch
    {
        { ParameterList: not null } type when !Constructors(type).Any() => "Turn the primary constructor into a constructor that calls RegisterComponents()",
        { } type when Constructors(type).Any(c => c.Body is not null || c.ExpressionBody is not null) => "Call RegisterComponents() at the end of the constructor",
        _ => null,
    };

    /// <inheritdoc />
    protected override async Task<Document> FixAsync(Document document, SyntaxNode root, ImmutableArray<Diagnostic> diagnostics, CancellationToken cancellationToken)
    {
        var types = Distinct(diagnostics.Select(d => Declaration(root, d)));
        if (types.IsEmpty)
            return document;
        var model = await document.GetSemanticModelAsync(cancellationToken).ConfigureAwait(false);
        var fixedRoot = root.ReplaceNodes(types, (original, _) =>
            original.ParameterList is not null && !Constructors(original).Any() && model is not null
                ? FromPrimaryConstructor(original, model, cancellationToken)
                : WithCalls(original));
        return document.WithSyntaxRoot(fixedRoot);
    }

    private static TypeDeclarationSyntax? Declaration(SyntaxNode root, Diagnostic diagnostic) =>
        NodeOf(root, diagnostic)?.FirstAncestorOrSelf<TypeDeclarationSyntax>();

    private static IEnumerable<ConstructorDeclarationSyntax> Constructors(TypeDeclarationSyntax type) =>
        type.Members.OfType<ConstructorDeclarationSyntax>().Where(c => !c.Modifiers.Any(SyntaxKind.StaticKeyword));

    private static StatementSyntax Call() =>
        SyntaxFactory.ParseStatement("RegisterComponents();").WithAdditionalAnnotations(Formatter.Annotation);

    /// <summary>Appends the call to every constructor that does not chain to another one of the class.</summary>
    private static TypeDeclarationSyntax WithCalls(TypeDeclarationSyntax type)
    {
        var constructors = Constructors(type).Where(c => c.Initializer is not { RawKind: (int)SyntaxKind.ThisConstructorInitializer }).ToList();
        return type.ReplaceNodes(constructors, (_, constructor) => constructor switch
        {
            { Body: { } body } => constructor.WithBody(body.AddStatements(Call())),
            { ExpressionBody: { } arrow } => constructor
                .WithExpressionBody(null).WithSemicolonToken(default)
                .WithBody(SyntaxFactory.Block(SyntaxFactory.ExpressionStatement(arrow.Expression), Call()).WithAdditionalAnnotations(Formatter.Annotation)),
            _ => constructor,
        });
    }

    /// <summary>The class with its primary constructor turned into an ordinary constructor that calls RegisterComponents().</summary>
    private static TypeDeclarationSyntax FromPrimaryConstructor(TypeDeclarationSyntax type, SemanticModel model, CancellationToken cancellationToken)
    {
        var parameterList = type.ParameterList!;
        var parameters = parameterList.Parameters.Select(p => model.GetDeclaredSymbol(p, cancellationToken)).OfType<IParameterSymbol>().ToImmutableHashSet(SymbolEqualityComparer.Default);
        bool UsesParameters(SyntaxNode node) => node.DescendantNodesAndSelf().OfType<IdentifierNameSyntax>()
            .Any(i => model.GetSymbolInfo(i, cancellationToken).Symbol is IParameterSymbol p && parameters.Contains(p));

        // Initializers that use the parameters move into the body, in declaration order.
        var moved = new List<StatementSyntax>();
        var movedDeclarators = new HashSet<SyntaxNode>();
        var movedValues = new List<Microsoft.CodeAnalysis.Text.TextSpan>();
        foreach (var member in type.Members)
        {
            switch (member)
            {
                case FieldDeclarationSyntax field when !field.Modifiers.Any(SyntaxKind.StaticKeyword) && !field.Modifiers.Any(SyntaxKind.ConstKeyword):
                    foreach (var declarator in field.Declaration.Variables.Where(v => v.Initializer is { } i && UsesParameters(i.Value)))
                    {
                        moved.Add(Assignment(declarator.Identifier.ValueText, declarator.Initializer!.Value));
                        movedDeclarators.Add(declarator);
                        movedValues.Add(declarator.Initializer.Value.Span);
                    }
                    break;
                case PropertyDeclarationSyntax { Initializer: { } propertyInitializer } property when !property.Modifiers.Any(SyntaxKind.StaticKeyword) && UsesParameters(propertyInitializer.Value):
                    moved.Add(Assignment(property.Identifier.ValueText, propertyInitializer.Value));
                    movedDeclarators.Add(property);
                    movedValues.Add(propertyInitializer.Value.Span);
                    break;
            }
        }

        // Parameters still used by members (captured) become fields of the same name.
        var captured = parameterList.Parameters
            .Where(p => type.Members.SelectMany(m => m.DescendantNodes().OfType<IdentifierNameSyntax>())
                .Any(i => i.Identifier.ValueText == p.Identifier.ValueText && !movedValues.Any(v => v.Contains(i.Span))
                    && model.GetSymbolInfo(i, cancellationToken).Symbol is IParameterSymbol s && parameters.Contains(s)))
            .ToList();
        var capturedFields = captured.Select(p => (MemberDeclarationSyntax)SyntaxFactory.FieldDeclaration(
                SyntaxFactory.VariableDeclaration(p.Type!.WithoutTrivia(), SyntaxFactory.SingletonSeparatedList(SyntaxFactory.VariableDeclarator(p.Identifier.WithoutTrivia()))))
            .WithModifiers(SyntaxFactory.TokenList(SyntaxFactory.Token(SyntaxKind.PrivateKeyword), SyntaxFactory.Token(SyntaxKind.ReadOnlyKeyword)))
            .WithAdditionalAnnotations(Formatter.Annotation)).ToList();
        var body = captured.Select(p => (StatementSyntax)SyntaxFactory.ParseStatement($"this.{p.Identifier.ValueText} = {p.Identifier.ValueText};"))
            .Concat(moved).Append(Call());

        // The base type's arguments become the constructor's base(...) call.
        var baseList = type.BaseList;
        ConstructorInitializerSyntax? initializer = null;
        if (baseList?.Types.FirstOrDefault() is PrimaryConstructorBaseTypeSyntax primaryBase)
        {
            initializer = SyntaxFactory.ConstructorInitializer(SyntaxKind.BaseConstructorInitializer, primaryBase.ArgumentList.WithoutTrivia());
            baseList = baseList.ReplaceNode(primaryBase, SyntaxFactory.SimpleBaseType(primaryBase.Type).WithTriviaFrom(primaryBase));
        }
        var accessibility = type.Modifiers.Any(SyntaxKind.AbstractKeyword) ? SyntaxKind.ProtectedKeyword : SyntaxKind.PublicKeyword;
        var constructor = SyntaxFactory.ConstructorDeclaration(type.Identifier.WithoutTrivia())
            .WithModifiers(SyntaxFactory.TokenList(SyntaxFactory.Token(accessibility)))
            .WithParameterList(parameterList.WithoutTrivia())
            .WithInitializer(initializer)
            .WithBody(SyntaxFactory.Block(body.Select(s => s.WithAdditionalAnnotations(Formatter.Annotation))))
            .WithAdditionalAnnotations(Formatter.Annotation);

        // Remove the moved initializers, then place the fields and the constructor after the last field.
        var members = type.Members.Select(m => m switch
        {
            FieldDeclarationSyntax field when field.Declaration.Variables.Any(movedDeclarators.Contains) =>
                field.ReplaceNodes(field.Declaration.Variables.Where(movedDeclarators.Contains), (_, v) => v.WithInitializer(null).WithIdentifier(v.Identifier.WithTrailingTrivia())),
            PropertyDeclarationSyntax property when movedDeclarators.Contains(property) =>
                property.WithInitializer(null).WithSemicolonToken(default).WithAccessorList(property.AccessorList?.WithTrailingTrivia(property.SemicolonToken.TrailingTrivia)),
            _ => m,
        }).ToList();
        int insertAt = members.FindLastIndex(m => m is FieldDeclarationSyntax or PropertyDeclarationSyntax) + 1;
        members.InsertRange(insertAt, capturedFields.Append(constructor));

        var closeParen = parameterList.CloseParenToken;
        var fixedType = type.WithParameterList(null).WithMembers(SyntaxFactory.List(members));
        fixedType = baseList is null ? fixedType : fixedType.WithBaseList(baseList);
        return fixedType.WithIdentifier(type.Identifier.WithTrailingTrivia(closeParen.TrailingTrivia));
    }

    private static StatementSyntax Assignment(string member, ExpressionSyntax value) =>
        SyntaxFactory.ExpressionStatement(SyntaxFactory.AssignmentExpression(SyntaxKind.SimpleAssignmentExpression,
            SyntaxFactory.IdentifierName(member), value.WithoutTrivia()));
}
