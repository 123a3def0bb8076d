using System.Collections.Immutable;
using System.Globalization;

namespace SingLoRA.Common;

/// <summary>One inclusive range of layer indices from the attribute's <c>Layers</c> (<c>"8"</c> is 8..8).</summary>
internal readonly record struct LayerRange(int First, int Last);

/// <summary>What <see cref="LayerList.Parse"/> makes of the attribute's <c>Layers</c>: the ranges, or what is wrong.</summary>
/// <param name="Ranges">The ranges in the order written (empty when <paramref name="Error"/> is set).</param>
/// <param name="Error">Null when the text is valid; otherwise what is wrong, for SLG0029's message.</param>
internal sealed record LayerListResult(ImmutableArray<LayerRange> Ranges, string? Error);

/// <summary>
/// Reads the attribute's <c>Layers</c> (<c>"0-3, 8"</c>): the one rule the generator and the analyzers follow, also linked
/// into the runtime for <c>SingLoRAOverrides.Layers(string)</c> (so it uses nothing from Roslyn).
/// </summary>
internal static class LayerList
{
    /// <summary>
    /// The ranges of <paramref name="text"/>: entries separated by commas, each a non-negative index (<c>8</c>) or an
    /// inclusive range <c>first-last</c> with <c>first &lt;= last</c>; spaces around entries are ignored.
    /// </summary>
    public static LayerListResult Parse(string text)
    {
        if (text.Trim().Length == 0)
            return Fail("is empty; write the layer indices to adapt, for example \"0-3, 8\", or remove Layers to adapt every layer");
        var ranges = ImmutableArray.CreateBuilder<LayerRange>();
        foreach (var raw in text.Split(','))
        {
            var entry = raw.Trim();
            if (entry.Length == 0)
                return Fail("has an empty entry");
            int dash = entry.IndexOf('-', 1);
            string firstText = dash < 0 ? entry : entry.Substring(0, dash).Trim();
            string lastText = dash < 0 ? entry : entry.Substring(dash + 1).Trim();
            if (!TryIndex(firstText, out int first) || !TryIndex(lastText, out int last))
                return Fail($"has the entry '{entry}', which is neither an index (8) nor a range (0-3) of non-negative integers");
            if (first > last)
                return Fail($"has the range '{entry}', whose first index is larger than its last; write it as {last}-{first}");
            ranges.Add(new LayerRange(first, last));
        }
        return new LayerListResult(ranges.ToImmutable(), null);
    }

    private static bool TryIndex(string text, out int value) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);

    private static LayerListResult Fail(string error) => new(ImmutableArray<LayerRange>.Empty, error);
}
