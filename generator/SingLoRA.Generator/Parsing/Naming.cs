using System.Text;

namespace SingLoRA.Generator.Parsing;

/// <summary>Names of generated files. (Member names are in <c>common/GeneratedNames.cs</c>, shared with the analyzers.)</summary>
internal static class Naming
{
    /// <summary>A file-name-safe version of <paramref name="text"/> (letters, digits, '.', '_').</summary>
    public static string SafeFileName(string text)
    {
        var sb = new StringBuilder(text.Length);
        foreach (var c in text)
            sb.Append(char.IsLetterOrDigit(c) || c == '.' || c == '_' ? c : '_');
        return sb.ToString();
    }
}
