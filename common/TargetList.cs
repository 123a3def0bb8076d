using System.Collections.Immutable;

namespace SingLoRA.Common;

/// <summary>One entry of the attribute's <c>Targets</c>: the trimmed name and where it starts in the string.</summary>
/// <param name="Name">The trimmed name ("" for an empty entry such as the middle of <c>"q,,k"</c>).</param>
/// <param name="Offset">The index of the name (of the entry, when empty) in the <c>Targets</c> string.</param>
internal readonly record struct TargetEntry(string Name, int Offset);

/// <summary>Splits the attribute's <c>Targets</c>: the one rule both the generator and the analyzers follow.</summary>
internal static class TargetList
{
    /// <summary>
    /// The entries of <paramref name="targets"/>, split at commas and trimmed, in order, empty entries and repeats
    /// kept (the classifier says why they are skipped). A null, empty or blank text has no entries.
    /// </summary>
    public static ImmutableArray<TargetEntry> Split(string? targets)
    {
        var builder = ImmutableArray.CreateBuilder<TargetEntry>();
        if (targets is null || targets.Trim().Length == 0)
            return builder.ToImmutable();
        int start = 0;
        while (true)
        {
            int comma = targets.IndexOf(',', start);
            int end = comma < 0 ? targets.Length : comma;
            var raw = targets.Substring(start, end - start);
            var name = raw.Trim();
            int offset = name.Length == 0 ? start : start + raw.IndexOf(name, System.StringComparison.Ordinal);
            builder.Add(new TargetEntry(name, offset));
            if (comma < 0)
                break;
            start = comma + 1;
        }
        return builder.ToImmutable();
    }
}
