using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using SingLoRA.Common;
using SingLoRA.Generator.Emitting;
using SingLoRA.Generator.Models;
using SingLoRA.Generator.Parsing;

namespace SingLoRA.Generator;

/// <summary>
/// The SingLoRA source generator. The pipeline, top to bottom:
/// <list type="number">
/// <item><c>SingLoRA.Parse</c>: every class carrying <c>[SingLoRA]</c> → a model (or none when the shared classifier
/// skips the class; the analyzers say why), plus an internal-error diagnostic if parsing threw.</item>
/// <item><c>SingLoRA.Eligible</c>: the models.</item>
/// <item><c>SingLoRA.Emit</c>: model → generated files (the partial class, and its interceptors when needed).</item>
/// <item>Output: add the files; report internal errors (SLG0022).</item>
/// </list>
/// Every model is value-equal, so an edit that does not change a module's model re-emits nothing.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class SingLoRAGenerator : IIncrementalGenerator
{
    private readonly Func<GeneratorAttributeSyntaxContext, CancellationToken, ParseResult> _parse;
    private readonly Func<ModuleModel, EquatableArray<GeneratedFile>> _emit;

    /// <summary>The generator as the compiler loads it.</summary>
    public SingLoRAGenerator()
        : this(ModuleParser.Parse, ModuleEmitter.Emit)
    {
    }

    /// <summary>The generator with its parse and emit steps replaced (tests make them throw to see SLG0022).</summary>
    internal SingLoRAGenerator(
        Func<GeneratorAttributeSyntaxContext, CancellationToken, ParseResult> parse,
        Func<ModuleModel, EquatableArray<GeneratedFile>> emit)
    {
        _parse = parse;
        _emit = emit;
    }

    /// <summary>The names of the pipeline's steps, for <c>.WithTrackingName</c> and the incremental tests.</summary>
    internal static class TrackingNames
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
        var parse = _parse;
        var emit = _emit;
        var parsed = context.SyntaxProvider
            .ForAttributeWithMetadataName(
                MetadataNames.SingLoRAAttribute,
                predicate: static (node, _) => node is TypeDeclarationSyntax,
                transform: (ctx, ct) => ParseSafely(parse, ctx, ct))
            .WithTrackingName(TrackingNames.Parse);

        var eligible = parsed
            .SelectMany(static (r, _) => r.Module is null ? ImmutableArray<ModuleModel>.Empty : ImmutableArray.Create(r.Module))
            .WithTrackingName(TrackingNames.Eligible);

        var files = eligible
            .Select((m, _) => EmitSafely(emit, m))
            .WithTrackingName(TrackingNames.Emit);

        context.RegisterSourceOutput(
            parsed.SelectMany(static (r, _) => r.Errors.IsEmptyArray() ? ImmutableArray<DiagnosticInfo>.Empty : ImmutableArray.CreateRange(r.Errors)),
            static (spc, error) => Report(spc, error));

        // All files go out through one callback: Roslyn checks hint names across callbacks only after they ran, where
        // a duplicate can no longer be caught. Duplicates arise only from broken code (two types with one name, or
        // [SingLoRA] on two declarations of a class that does not bind as one type); they get a numbered name.
        context.RegisterSourceOutput(files.Collect(), static (spc, all) =>
        {
            var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var generated in all)
            {
                foreach (var error in generated.Errors)
                    Report(spc, error);
                foreach (var file in generated.Files)
                {
                    var hintName = file.HintName;
                    for (int n = 2; !used.Add(hintName); n++)
                        hintName = file.HintName.Substring(0, file.HintName.Length - ".g.cs".Length) + "." + n + ".g.cs";
                    try
                    {
                        spc.AddSource(hintName, file.Text);
                    }
                    catch (ArgumentException e)
                    {
                        Report(spc, ModuleParser.Error(null, hintName, "adding the generated file", e));
                    }
                }
            }
        });
    }

    private static ParseResult ParseSafely(Func<GeneratorAttributeSyntaxContext, CancellationToken, ParseResult> parse, GeneratorAttributeSyntaxContext context, CancellationToken cancellationToken)
    {
        try
        {
            return parse(context, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return ModuleParser.Failed(context, "reading the class", e);
        }
    }

    private static EmitResult EmitSafely(Func<ModuleModel, EquatableArray<GeneratedFile>> emit, ModuleModel model)
    {
        try
        {
            return new EmitResult(emit(model), EquatableArray<DiagnosticInfo>.Empty);
        }
        catch (Exception e)
        {
            var name = (model.Namespace is null ? "" : model.Namespace + ".") + model.DisplayName;
            return new EmitResult(EquatableArray<GeneratedFile>.Empty, new[] { ModuleParser.Error(null, name, "writing its generated code", e) }.ToEquatableArray());
        }
    }

    private static void Report(SourceProductionContext context, DiagnosticInfo error)
    {
        var args = new object[error.Arguments.Count];
        for (int i = 0; i < args.Length; i++) args[i] = error.Arguments[i];
        context.ReportDiagnostic(Diagnostic.Create(GeneratorDiagnostics.InternalError, error.Location?.ToLocation() ?? Location.None, args));
    }
}
