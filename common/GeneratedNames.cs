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
    /// <summary>The static field holding the attribute's options: <c>__singloraAttributeOptions</c>.</summary>
    public const string AttributeOptionsField = "__singloraAttributeOptions";

    /// <summary>The instance field holding the options the adapters were created with (after any override scope).</summary>
    public const string AppliedOptionsField = "__singloraAppliedOptions";

    /// <summary>The instance flag that makes <c>RegisterComponents()</c> create the adapters once: <c>__singloraRegistered</c>.</summary>
    public const string RegisteredField = "__singloraRegistered";

    /// <summary>The static method that tests a layer index against the attribute's <c>Layers</c>: <c>__singloraAdaptsLayer</c>.</summary>
    public const string AdaptsLayerMethod = "__singloraAdaptsLayer";

    /// <summary>The prefix of each target's adapter field: <c>__singloraAdapter_q</c>.</summary>
    public const string AdapterFieldPrefix = "__singloraAdapter_";

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
        ImmutableArray.Create(OptionsProperty, AttributeOptionsField, AppliedOptionsField, RegisteredField, AdaptsLayerMethod).AddRange(InterfaceMembers);

    /// <summary>The adapter field of a target.</summary>
    public static string AdapterField(string fieldName) => AdapterFieldPrefix + fieldName;

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
