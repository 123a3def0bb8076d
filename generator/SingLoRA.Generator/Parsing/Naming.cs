using System.Collections.Generic;
using System.Text;
using Microsoft.CodeAnalysis.CSharp;

namespace SingLoRA.Generator.Parsing;

/// <summary>Names derived from the user's identifiers.</summary>
public static class Naming
{
    /// <summary>Splits the attribute's <c>Targets</c> (<c>"q, k"</c>) into distinct field names, in order.</summary>
    public static IReadOnlyList<string> SplitTargets(string? targets)
    {
        var result = new List<string>();
        if (targets is null) return result;
        foreach (var part in targets.Split(','))
        {
            var name = part.Trim();
            if (name.Length > 0 && !result.Contains(name)) result.Add(name);
        }
        return result;
    }

    /// <summary>
    /// The PascalCase stem of a field name: <c>q</c> → <c>Q</c>, <c>q_proj</c> → <c>QProj</c>, <c>wq</c> → <c>Wq</c>,
    /// <c>c_attn</c> → <c>CAttn</c>. A leading <c>@</c> is dropped; the rest of each word is kept as written.
    /// </summary>
    public static string ToPascal(string fieldName)
    {
        var sb = new StringBuilder(fieldName.Length);
        foreach (var word in fieldName.TrimStart('@').Split('_'))
        {
            if (word.Length == 0) continue;
            sb.Append(char.ToUpperInvariant(word[0])).Append(word, 1, word.Length - 1);
        }
        return sb.Length == 0 ? "Field" : sb.ToString();
    }

    /// <summary>The identifier as C# source: prefixed with <c>@</c> when it is a keyword.</summary>
    public static string Escape(string identifier) =>
        SyntaxFacts.GetKeywordKind(identifier) != SyntaxKind.None ? "@" + identifier : identifier;

    /// <summary>A file-name-safe version of <paramref name="text"/> (letters, digits, '.', '_').</summary>
    public static string SafeFileName(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
            sb.Append(char.IsLetterOrDigit(c) || c == '.' || c == '_' ? c : '_');
        return sb.ToString();
    }
}
