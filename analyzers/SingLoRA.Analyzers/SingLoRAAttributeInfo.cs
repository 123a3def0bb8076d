using System.Collections.Generic;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;
using SingLoRA.Common;

namespace SingLoRA.Analyzers;

/// <summary>
/// The [SingLoRA] attribute as written: its named values (absent ones are null, meaning the default) and the
/// locations of each argument, so that diagnostics point at the value that is wrong.
/// </summary>
internal sealed class SingLoRAAttributeInfo
{
    private readonly Dictionary<string, AttributeArgumentSyntax> _arguments = new();

    private SingLoRAAttributeInfo(AttributeData data, AttributeSyntax? syntax)
    {
        Data = data;
        Syntax = syntax;
        if (syntax?.ArgumentList is { } list)
        {
            foreach (var argument in list.Arguments)
            {
                if (argument.NameEquals is { } nameEquals)
                    _arguments[nameEquals.Name.Identifier.ValueText] = argument;
            }
        }
        foreach (var pair in data.NamedArguments)
            Named[pair.Key] = pair.Value;
    }

    /// <summary>The attribute's data.</summary>
    public AttributeData Data { get; }

    /// <summary>The attribute's syntax, when it is in source.</summary>
    public AttributeSyntax? Syntax { get; }

    /// <summary>The named arguments that were given.</summary>
    public Dictionary<string, TypedConstant> Named { get; } = new();

    /// <summary>Reads the attribute of a type.</summary>
    public static SingLoRAAttributeInfo Create(AttributeData data, CancellationToken cancellationToken) =>
        new(data, data.ApplicationSyntaxReference?.GetSyntax(cancellationToken) as AttributeSyntax);

    /// <summary>The location of the whole attribute.</summary>
    public Location AttributeLocation => Syntax?.GetLocation() ?? Location.None;

    /// <summary>The location of the value of argument <paramref name="name"/>, or of the attribute when it was not given.</summary>
    public Location ValueLocation(string name) =>
        _arguments.TryGetValue(name, out var argument) ? argument.Expression.GetLocation() : AttributeLocation;

    /// <summary>The syntax of argument <paramref name="name"/>, or null.</summary>
    public AttributeArgumentSyntax? Argument(string name) => _arguments.TryGetValue(name, out var argument) ? argument : null;

    /// <summary>The value of a named argument of a primitive type, or null when absent (or not a value, in erroneous code).</summary>
    public object? Value(string name) =>
        Named.TryGetValue(name, out var constant) && constant.Kind != TypedConstantKind.Error ? constant.Value : null;

    /// <summary>
    /// Where entry <paramref name="entry"/> of <c>Targets</c> is written: inside the string literal when the value is
    /// a plain <c>"..."</c> literal without escapes, otherwise the whole value.
    /// </summary>
    public Location EntryLocation(TargetEntry entry)
    {
        var whole = ValueLocation("Targets");
        if (entry.Name.Length == 0
            || Argument("Targets")?.Expression is not LiteralExpressionSyntax literal
            || !literal.IsKind(SyntaxKind.StringLiteralExpression)
            || literal.Token.ValueText.Length + 2 != literal.Token.Text.Length
            || literal.Token.Text != "\"" + literal.Token.ValueText + "\"")
            return whole;
        return Location.Create(literal.SyntaxTree, new TextSpan(literal.Token.SpanStart + 1 + entry.Offset, entry.Name.Length));
    }
}
