namespace SingLoRA.Common;

/// <summary>Where each diagnostic's page lives: <c>docs/diagnostics/&lt;ID&gt;.md</c> in the repository.</summary>
internal static class HelpLinks
{
    /// <summary>The folder of the diagnostic pages.</summary>
    public const string Root = "https://github.com/singlora-gen/SingLoRA.Gen/blob/main/docs/diagnostics/";

    /// <summary>The page of <paramref name="id"/>.</summary>
    public static string For(string id) => Root + id + ".md";
}
