using Microsoft.CodeAnalysis;
using SingLoRA.Common;

namespace SingLoRA.Generator;

/// <summary>
/// The one diagnostic the generator reports itself: its own failure. Everything wrong in user code is reported by the
/// analyzers (from the same classifier), so that the generator stays a pure function of its models.
/// </summary>
internal static class GeneratorDiagnostics
{
    /// <summary>SLG0022: the generator failed on a class; the exception's type and message are in the message.</summary>
    public static readonly DiagnosticDescriptor InternalError = new(
        DiagnosticIds.GeneratorInternalError,
        "The SingLoRA generator failed on a class",
        "The SingLoRA generator failed on '{0}' while {1}: {2}: {3}. The class gets no adapters, so its targets would run unadapted; please report this with the class's source.",
        "SingLoRA",
        DiagnosticSeverity.Error,
        isEnabledByDefault: true,
        description: "An internal error of the generator, never a mistake in user code. It is an error so that a build never runs the model with its layers silently unadapted.",
        helpLinkUri: HelpLinks.For(DiagnosticIds.GeneratorInternalError));
}
