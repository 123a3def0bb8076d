using System;
using System.Collections.Generic;
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

        // All files go out through one callback: Roslyn checks hint names across callbacks only after they ran, where
        // a duplicate can no longer be caught. Duplicates arise only from broken code (two types with one name, or
        // [SingLoRA] on two declarations of a class that does not bind as one type); they get a numbered name.
        context.RegisterSourceOutput(files.Collect(), static (spc, all) =>
        {
            var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var generated in all)
            {
                foreach (var file in generated)
                {
                    var hintName = file.HintName;
                    for (int n = 2; !used.Add(hintName); n++)
                        hintName = file.HintName.Substring(0, file.HintName.Length - ".g.cs".Length) + "." + n + ".g.cs";
                    spc.AddSource(hintName, file.Text);
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
