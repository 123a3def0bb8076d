using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace SingLoRA.Common;

/// <summary>
/// Where a constructor of an annotated class calls <c>RegisterComponents()</c> (the registration point: the adapters are
/// created there, around what the targets and the layer index hold at that moment), and what runs before it. The one
/// rule SLG0020, SLG0024/SLG0025, SLG0031 and the SLG0031 code fix follow. Syntax only (the analyzers read it at a
/// symbol's end, without a semantic model); Roslyn is used, so the runtime does not link this file.
/// <list type="bullet">
/// <item>The call is <c>RegisterComponents()</c>, <c>this.RegisterComponents()</c> or <c>base.RegisterComponents()</c>,
/// the first one in the constructor's own code (not inside a lambda or local function, which may run later).</item>
/// <item>Before it, a call of a method of the class (<c>M(...)</c> or <c>this.M(...)</c>) that is not virtual, abstract
/// or override and has a body is followed into that body, transitively (each method once); so is a call of a local
/// function declared in the code being read.</item>
/// <item>A call before it that may run code of the class this rule cannot follow is <em>unknown</em>: a virtual,
/// abstract, override or bodiless method of the class (a derived class may replace it), or any call that hands out
/// <c>this</c> (as an argument, or as a receiver cast to an interface). Calls of other objects and of static or
/// inherited methods that are not given <c>this</c> cannot assign the class's own members and are not followed.</item>
/// </list>
/// </summary>
internal sealed class RegistrationPoint
{
    private readonly ImmutableArray<SyntaxNode> _codeBefore;

    private RegistrationPoint(InvocationExpressionSyntax call, ImmutableArray<SyntaxNode> helpers, ImmutableArray<InvocationExpressionSyntax> unknownCalls, ImmutableArray<SyntaxNode> codeBefore)
    {
        Call = call;
        HelpersBefore = helpers;
        UnknownCallsBefore = unknownCalls;
        _codeBefore = codeBefore;
    }

    /// <summary>The constructor's <c>RegisterComponents()</c> call.</summary>
    public InvocationExpressionSyntax Call { get; }

    /// <summary>
    /// The methods (<see cref="MethodDeclarationSyntax"/>) and local functions (<see cref="LocalFunctionStatementSyntax"/>)
    /// the constructor calls before <see cref="Call"/>, followed transitively.
    /// </summary>
    public ImmutableArray<SyntaxNode> HelpersBefore { get; }

    /// <summary>The calls before <see cref="Call"/> (in the constructor or a helper) that may run code this rule cannot follow.</summary>
    public ImmutableArray<InvocationExpressionSyntax> UnknownCallsBefore { get; }

    /// <summary>True for <c>RegisterComponents()</c>, <c>this.RegisterComponents()</c> and <c>base.RegisterComponents()</c>.</summary>
    public static bool IsRegistrationCall(InvocationExpressionSyntax invocation) =>
        invocation.ArgumentList.Arguments.Count == 0 && OwnCallName(invocation, allowBase: true) == GeneratedNames.RegisterComponents;

    /// <summary>The first registration call in the constructor's own code, or null.</summary>
    public static InvocationExpressionSyntax? CallIn(ConstructorDeclarationSyntax constructor) =>
        OwnCode(constructor).OfType<InvocationExpressionSyntax>().FirstOrDefault(IsRegistrationCall);

    /// <summary>
    /// The registration point of <paramref name="constructor"/>, or null when it does not call <c>RegisterComponents()</c>.
    /// <paramref name="declarations"/> are the declarations of the class (every partial part), where helpers are looked up.
    /// </summary>
    public static RegistrationPoint? Find(ConstructorDeclarationSyntax constructor, IEnumerable<TypeDeclarationSyntax> declarations)
    {
        var call = CallIn(constructor);
        if (call is null)
            return null;
        var methods = declarations.SelectMany(d => d.Members).OfType<MethodDeclarationSyntax>().ToList();
        var helpers = new List<SyntaxNode>();
        var unknown = new List<InvocationExpressionSyntax>();
        var codeBefore = new List<SyntaxNode>();
        var visited = new HashSet<SyntaxNode>();
        var pending = new Queue<(SyntaxNode Body, int Before)>();
        pending.Enqueue((constructor, call.SpanStart));
        while (pending.Count > 0)
        {
            var (body, before) = pending.Dequeue();
            foreach (var node in OwnCode(body).Where(n => n.SpanStart < before))
            {
                codeBefore.Add(node);
                if (node is not InvocationExpressionSyntax invocation || IsRegistrationCall(invocation))
                    continue;
                if (HandsOutThis(invocation))
                {
                    unknown.Add(invocation);
                    continue;
                }
                if (OwnCallName(invocation, allowBase: false) is not { } name)
                    continue;
                var scope = body is LocalFunctionStatementSyntax ? body.FirstAncestorOrSelf<MemberDeclarationSyntax>() ?? body : body;
                var local = scope.DescendantNodes().OfType<LocalFunctionStatementSyntax>().FirstOrDefault(f => f.Identifier.ValueText == name);
                var callees = local is not null ? new List<SyntaxNode> { local } : methods.Where(m => m.Identifier.ValueText == name).Cast<SyntaxNode>().ToList();
                if (callees.Any(c => !CanFollow(c)))
                {
                    unknown.Add(invocation);
                    continue;
                }
                foreach (var callee in callees.Where(visited.Add))
                {
                    helpers.Add(callee);
                    pending.Enqueue((callee, int.MaxValue));
                }
            }
        }
        return new RegistrationPoint(call, helpers.ToImmutableArray(), unknown.ToImmutableArray(), codeBefore.ToImmutableArray());
    }

    /// <summary>Whether the constructor assigns <paramref name="member"/> before the call, directly or in a helper.</summary>
    public MemberAssignment AssignsBefore(string member)
    {
        if (_codeBefore.Any(n => Assigns(n, member)))
            return MemberAssignment.Assigned;
        // An assignment in a lambda written before the call may run before it, or later: unknown, as is an unknown call.
        bool inLambda = _codeBefore.OfType<AnonymousFunctionExpressionSyntax>().Any(l => l.DescendantNodes().Any(n => Assigns(n, member)));
        return inLambda || !UnknownCallsBefore.IsEmpty ? MemberAssignment.Unknown : MemberAssignment.NotAssigned;
    }

    /// <summary>True when <paramref name="node"/> is a declaration among <see cref="HelpersBefore"/> (compared by tree and span).</summary>
    public bool IsHelperBefore(SyntaxNode node) =>
        HelpersBefore.Any(h => h.SyntaxTree == node.SyntaxTree && h.Span == node.Span);

    /// <summary>
    /// True when <paramref name="node"/> writes the class's own <paramref name="member"/>: an assignment (simple or compound,
    /// <c>x = ...</c> or <c>this.x = ...</c>, in a deconstruction too), <c>++</c>/<c>--</c>, or a <c>ref</c>/<c>out</c> argument.
    /// </summary>
    public static bool Assigns(SyntaxNode node, string member) => node switch
    {
        AssignmentExpressionSyntax assignment => NamesOwnMember(assignment.Left, member)
            || assignment.Left is TupleExpressionSyntax tuple && tuple.Arguments.Any(a => NamesOwnMember(a.Expression, member)),
        PrefixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.PreIncrementExpression or (int)SyntaxKind.PreDecrementExpression } unary => NamesOwnMember(unary.Operand, member),
        PostfixUnaryExpressionSyntax { RawKind: (int)SyntaxKind.PostIncrementExpression or (int)SyntaxKind.PostDecrementExpression } unary => NamesOwnMember(unary.Operand, member),
        ArgumentSyntax { RefKindKeyword.RawKind: (int)SyntaxKind.RefKeyword or (int)SyntaxKind.OutKeyword } argument => NamesOwnMember(argument.Expression, member),
        _ => false,
    };

    /// <summary>True when <paramref name="expression"/> names the class's own <paramref name="member"/>: <c>x</c> or <c>this.x</c>.</summary>
    public static bool NamesOwnMember(ExpressionSyntax expression, string member) => expression switch
    {
        IdentifierNameSyntax id => id.Identifier.ValueText == member,
        MemberAccessExpressionSyntax { Expression: ThisExpressionSyntax } access => access.Name.Identifier.ValueText == member,
        _ => false,
    };

    /// <summary>The code of a member itself, in order, without the bodies of lambdas and local functions (which may run later).</summary>
    private static IEnumerable<SyntaxNode> OwnCode(SyntaxNode member) =>
        member.DescendantNodes(n => n == member || n is not (AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax));

    /// <summary>The name of a call of the object's own method: <c>M(...)</c>, <c>this.M(...)</c> (and <c>base.M(...)</c> when allowed).</summary>
    private static string? OwnCallName(InvocationExpressionSyntax invocation, bool allowBase) => invocation.Expression switch
    {
        IdentifierNameSyntax identifier => identifier.Identifier.ValueText,
        GenericNameSyntax generic => generic.Identifier.ValueText,
        MemberAccessExpressionSyntax { Expression: ThisExpressionSyntax } access => access.Name.Identifier.ValueText,
        MemberAccessExpressionSyntax { Expression: BaseExpressionSyntax } access when allowBase => access.Name.Identifier.ValueText,
        _ => null,
    };

    /// <summary>A method or local function whose body always runs when called: not virtual, abstract or override, with a body.</summary>
    private static bool CanFollow(SyntaxNode callee) => callee switch
    {
        LocalFunctionStatementSyntax local => local.Body is not null || local.ExpressionBody is not null,
        MethodDeclarationSyntax method => (method.Body is not null || method.ExpressionBody is not null)
            && !method.Modifiers.Any(m => m.IsKind(SyntaxKind.VirtualKeyword) || m.IsKind(SyntaxKind.AbstractKeyword) || m.IsKind(SyntaxKind.OverrideKeyword) || m.IsKind(SyntaxKind.ExternKeyword)),
        _ => false,
    };

    /// <summary>True when the call is given the object itself: <c>this</c> as (part of) an argument, or as a receiver other than <c>this.M</c>.</summary>
    private static bool HandsOutThis(InvocationExpressionSyntax invocation)
    {
        bool inReceiver = invocation.Expression is MemberAccessExpressionSyntax { Expression: not ThisExpressionSyntax } access && HasBareThis(access.Expression);
        return inReceiver || invocation.ArgumentList.Arguments.Any(a => HasBareThis(a.Expression));
    }

    /// <summary>True when <paramref name="expression"/> uses <c>this</c> other than to reach a member (<c>this.x</c>).</summary>
    private static bool HasBareThis(ExpressionSyntax expression) =>
        expression.DescendantNodesAndSelf().Any(n => n is ThisExpressionSyntax && n.Parent is not MemberAccessExpressionSyntax);
}

/// <summary>Whether a constructor assigns a member before its <c>RegisterComponents()</c> call.</summary>
internal enum MemberAssignment
{
    /// <summary>It does not, and no call before the registration could.</summary>
    NotAssigned,

    /// <summary>It does, directly or in a helper method it calls before the registration.</summary>
    Assigned,

    /// <summary>A call or lambda before the registration may assign it; the rule cannot tell.</summary>
    Unknown,
}
