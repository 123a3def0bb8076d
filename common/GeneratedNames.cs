using System.Collections.Immutable;
using System.Text;
using Microsoft.CodeAnalysis.CSharp;

namespace SingLoRA.Common;

/// <summary>
/// The names of the members the generator adds to an annotated class. The emitter writes them and the analyzers check
/// user members against them (SLG0018), from this one list.
/// </summary>
internal static class GeneratedNames
{
    /// <summary>
    /// The static field holding the class's descriptor (the attribute's options, the targets with typed access, the layer
    /// choice), through which the generated members talk to the runtime: <c>__singloraDescriptor</c>.
    /// </summary>
    public const string DescriptorField = "__singloraDescriptor";

    /// <summary>The public property with the options in use.</summary>
    public const string OptionsProperty = "SingLoRAOptions";

    /// <summary>The suffix of each target's typed adapter property: <c>QAdapter</c>.</summary>
    public const string AdapterPropertySuffix = "Adapter";

    /// <summary>The override that creates the adapters (a user declaration of it is SLG0019, not a collision).</summary>
    public const string RegisterComponents = "RegisterComponents";

    /// <summary>
    /// The <c>ISingLoRAModule</c> members the generator implements on every annotated class, besides
    /// <see cref="OptionsProperty"/>. The interface's operations (<c>AdvanceRamp</c>, <c>MergeAdapters</c>, ...) are
    /// default interface members, not generated, so a user member of that name is no collision.
    /// </summary>
    public static readonly ImmutableArray<string> InterfaceMembers = ImmutableArray.Create("Adapters");

    /// <summary>Every member emitted on every annotated class, besides the per-target ones and RegisterComponents.</summary>
    public static readonly ImmutableArray<string> ClassMembers =
        ImmutableArray.Create(OptionsProperty, DescriptorField).AddRange(InterfaceMembers);

    /// <summary>
    /// The typed adapter property of a target: the PascalCase stem of the field name plus <c>Adapter</c>
    /// (<c>q</c> → <c>QAdapter</c>, <c>q_proj</c> → <c>QProjAdapter</c>, <c>wq</c> → <c>WqAdapter</c>,
    /// <c>c_attn</c> → <c>CAttnAdapter</c>). A leading <c>@</c> is dropped; the rest of each word is kept as written.
    /// </summary>
    public static string AdapterProperty(string fieldName) => PascalStem(fieldName) + AdapterPropertySuffix;

    /// <summary>The PascalCase stem of a field name (<c>Field</c> when nothing is left).</summary>
    public static string PascalStem(string fieldName)
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
}
