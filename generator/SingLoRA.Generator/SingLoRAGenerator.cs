using System;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using SingLoRA.Generator.Emitting;
using SingLoRA.Generator.Models;
using SingLoRA.Generator.Parsing;

namespace SingLoRA.Generator;

/// <summary>
/// The SingLoRA source generator. The pipeline, top to bottom:
/// <list type="number">
/// <item><see cref="TrackingNames.Parse"/>: every class carrying <c>[SingLoRA]</c> → a <see cref="ModuleModel"/> (or null when it gets no output).</item>
/// <item><see cref="TrackingNames.Eligible"/>: drop the nulls.</item>
/// <item><see cref="TrackingNames.Emit"/>: model → generated files (the partial class, and its interceptors when needed).</item>
/// <item>Output: add the files.</item>
/// </list>
/// Every model is value-equal, so an edit that does not change a module's model re-emits nothing.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class SingLoRAGenerator : IIncrementalGenerator
{
    /// <summary>The names of the pipeline's steps, for <c>.WithTrackingName</c> and the incremental tests.</summary>
    public static class TrackingNames
    {
        /// <summary>Attribute + class → model.</summary>
        public const string Parse = "SingLoRA.Parse";

        /// <summary>Only the classes that get output.</summary>
        public const string Eligible = "SingLoRA.Eligible";

        /// <summary>Model → generated files.</summary>
        public const string Emit = "SingLoRA.Emit";

        /// <summary>Every step name.</summary>
        public static readonly string[] All = { Parse, Eligible, Emit };
    }

    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var models = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                KnownTypes.SingLoRAAttribute,
                predicate: static (node, _) => node is ClassDeclarationSyntax,
                transform: static (ctx, ct) => ModuleParser.Parse(ctx, ct))
            .WithTrackingName(TrackingNames.Parse);

        var eligible = models
            .SelectMany(static (m, _) => m is null ? ImmutableArray<ModuleModel>.Empty : ImmutableArray.Create(m))
            .WithTrackingName(TrackingNames.Eligible);

        var files = eligible
            .Select(static (m, _) => EmitSafely(m))
            .WithTrackingName(TrackingNames.Emit);

        context.RegisterSourceOutput(files, static (spc, generated) =>
        {
            foreach (var file in generated)
            {
                try
                {
                    spc.AddSource(file.HintName, file.Text);
                }
                catch (ArgumentException)
                {
                    // A duplicate hint name cannot happen for distinct classes; if it does, the first file wins.
                }
            }
        });
    }

    private static EquatableArray<GeneratedFile> EmitSafely(ModuleModel model)
    {
        try
        {
            return ModuleEmitter.Emit(model);
        }
        catch (Exception)
        {
            return EquatableArray<GeneratedFile>.Empty;
        }
    }
}
