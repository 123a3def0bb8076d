using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace SingLoRA.Analyzers.Sizes;

/// <summary>What the size evaluator knows about a value: an integer, an object under construction, a Linear layer, or nothing.</summary>
internal abstract class SizeValue
{
    /// <summary>The value nothing is known about.</summary>
    public static readonly SizeValue Unknown = new UnknownValue();

    private sealed class UnknownValue : SizeValue
    {
    }
}

/// <summary>
/// An integer known at compile time, with where it came from: the constructor arguments of the creation site being
/// checked that it depends on (<c>d = 64</c>, <c>config.Dim = 64</c>); empty when it does not depend on them.
/// </summary>
internal sealed class KnownValue : SizeValue
{
    public KnownValue(long value, ImmutableSortedSet<string> origins)
    {
        Value = value;
        Origins = origins;
    }

    public long Value { get; }

    public ImmutableSortedSet<string> Origins { get; }

    /// <summary>The value with one more origin.</summary>
    public KnownValue From(string origin) => new(Value, Origins.Add(origin));

    /// <summary>The value as written in a message.</summary>
    public string Text => Value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A constant that depends on nothing.</summary>
    public static KnownValue Constant(long value) => new(value, ImmutableSortedSet<string>.Empty.WithComparer(System.StringComparer.Ordinal));
}

/// <summary>
/// An object built with <c>new</c>: its type, the constructor and its (evaluated) arguments, the members set by an
/// object initializer or <c>with</c>, and the name of the creation-site parameter it was passed as (for messages).
/// </summary>
internal sealed class ObjectValue : SizeValue
{
    public ObjectValue(INamedTypeSymbol type, IMethodSymbol? constructor, ImmutableDictionary<IParameterSymbol, SizeValue> arguments, ImmutableDictionary<ISymbol, SizeValue> members, string? origin)
    {
        Type = type;
        Constructor = constructor;
        Arguments = arguments;
        Members = members;
        Origin = origin;
    }

    public INamedTypeSymbol Type { get; }

    public IMethodSymbol? Constructor { get; }

    public ImmutableDictionary<IParameterSymbol, SizeValue> Arguments { get; }

    public ImmutableDictionary<ISymbol, SizeValue> Members { get; }

    public string? Origin { get; }

    public ObjectValue WithOrigin(string origin) => new(Type, Constructor, Arguments, Members, origin);

    public ObjectValue WithMembers(ImmutableDictionary<ISymbol, SizeValue> members) => new(Type, Constructor, Arguments, Members.SetItems(members), Origin);
}

/// <summary>A <c>torch.nn.Linear(in, out, ...)</c> layer and its sizes.</summary>
internal sealed class LinearValue : SizeValue
{
    public LinearValue(SizeValue inFeatures, SizeValue outFeatures)
    {
        In = inFeatures;
        Out = outFeatures;
    }

    public SizeValue In { get; }

    public SizeValue Out { get; }

    /// <summary>Both sizes, when both are known and positive.</summary>
    public (KnownValue In, KnownValue Out)? Sizes =>
        In is KnownValue i && Out is KnownValue o && i.Value > 0 && o.Value > 0 ? (i, o) : null;

    /// <summary>The creation-site arguments the sizes depend on.</summary>
    public ImmutableSortedSet<string> Origins =>
        Sizes is { } s ? s.In.Origins.Union(s.Out.Origins) : ImmutableSortedSet<string>.Empty;

    /// <summary>True when <paramref name="other"/> has the same known sizes.</summary>
    public bool SameSizes(LinearValue other) =>
        Sizes is { } a && other.Sizes is { } b && a.In.Value == b.In.Value && a.Out.Value == b.Out.Value;

    public override string ToString() => Sizes is { } s ? $"Linear({s.In.Text}, {s.Out.Text})" : "Linear(?, ?)";
}

internal static class SizeValueExtensions
{
    /// <summary>Marks a value passed as parameter <paramref name="name"/> of the creation site being checked.</summary>
    public static SizeValue Labelled(this SizeValue value, string name) => value switch
    {
        KnownValue known => known.From($"{name} = {known.Text}"),
        ObjectValue obj => obj.WithOrigin(name),
        _ => value,
    };

}
