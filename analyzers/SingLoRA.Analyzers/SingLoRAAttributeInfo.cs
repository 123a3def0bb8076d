using System.Collections.Generic;
using System.Collections.Immutable;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace SingLoRA.Analyzers;

/// <summary>One entry of <c>Targets</c>: the trimmed name and where it is written.</summary>
internal readonly record struct TargetEntry(string Name, Location Location);

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

    /// <summary>The raw <c>Targets</c> text ("" when absent or null).</summary>
    public string TargetsText => Value("Targets") as string ?? "";

    /// <summary>
    /// The entries of <c>Targets</c>, split at commas and trimmed, with the location of each name inside the string
    /// literal when the value is a plain literal (otherwise the whole value's location). Empty entries are kept (name "").
    /// </summary>
    public ImmutableArray<TargetEntry> Targets()
    {
        var text = TargetsText;
        var whole = ValueLocation("Targets");
        // Point inside the literal only when the value is written exactly as a plain "..." literal without escapes.
        int? contentStart = null;
        SyntaxTree? tree = null;
        if (Argument("Targets")?.Expression is LiteralExpressionSyntax literal
            && literal.IsKind(SyntaxKind.StringLiteralExpression)
            && literal.Token.Text == "\"" + text + "\"")
        {
            contentStart = literal.Token.SpanStart + 1;
            tree = literal.SyntaxTree;
        }

        var builder = ImmutableArray.CreateBuilder<TargetEntry>();
        if (text.Trim().Length == 0)
            return builder.ToImmutable();
        int start = 0;
        while (true)
        {
            int comma = text.IndexOf(',', start);
            int end = comma < 0 ? text.Length : comma;
            var raw = text.Substring(start, end - start);
            var name = raw.Trim();
            var location = whole;
            if (contentStart is { } s && tree is not null && name.Length > 0)
            {
                int offset = start + raw.IndexOf(name, System.StringComparison.Ordinal);
                location = Location.Create(tree, new TextSpan(s + offset, name.Length));
            }
            builder.Add(new TargetEntry(name, location));
            if (comma < 0)
                break;
            start = comma + 1;
        }
        return builder.ToImmutable();
    }
}
