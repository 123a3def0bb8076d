using System;
using System.Linq;
using Microsoft.CodeAnalysis;
using SingLoRA.Common;
using SingLoRA.Generator.Emitting;
using SingLoRA.Generator.Models;
using SingLoRA.Generator.Parsing;
using SingLoRA.Testing;
using Xunit;

namespace SingLoRA.Generator.Tests;

/// <summary>
/// A failure inside the generator is never silent: the class gets an SLG0022 error naming the exception, not a build
/// that runs the layer unadapted; the other classes still get their code. And the emitted member names are exactly
/// the shared list the analyzers check collisions against.
/// </summary>
public class FailureTests
{
    private static CompileHarness.GeneratorRun Run(SingLoRAGenerator generator) =>
        CompileHarness.RunGenerator(
            CompileHarness.Compile(new[] { ("SelfAttention.cs", Cases.LinearTargets), ("Mlp.cs", Cases.NonSquareTarget) }),
            CompileHarness.CreateDriver(generator: generator));

    [Fact]
    public void An_exception_while_parsing_a_class_is_reported_as_SLG0022_on_that_class()
    {
        var run = Run(new SingLoRAGenerator(
            (context, ct) => context.TargetSymbol.Name == "Mlp" ? throw new InvalidOperationException("parser bug") : ModuleParser.Parse(context, ct),
            ModuleEmitter.Emit));

        Assert.Null(run.Result.Results.Single().Exception);
        var error = Assert.Single(run.Diagnostics);
        Assert.Equal("SLG0022", error.Id);
        Assert.Equal(DiagnosticSeverity.Error, error.Severity);
        Assert.Contains("'Mlp' while reading the class: System.InvalidOperationException: parser bug", error.GetMessage());
        // At the class's name (a file position: the pipeline keeps no syntax tree).
        var span = error.Location.GetLineSpan();
        Assert.Equal(("Mlp.cs", 7, 21, 24), (span.Path, span.StartLinePosition.Line, span.StartLinePosition.Character, span.EndLinePosition.Character));
        // The healthy class is untouched.
        Assert.Contains(run.Result.GeneratedTrees, t => t.FilePath.EndsWith("Models.SelfAttention.SingLoRA.g.cs", StringComparison.Ordinal));
        Assert.DoesNotContain(run.Result.GeneratedTrees, t => t.FilePath.Contains("Mlp", StringComparison.Ordinal));
    }

    [Fact]
    public void An_exception_while_writing_a_class_is_reported_as_SLG0022()
    {
        var run = Run(new SingLoRAGenerator(
            ModuleParser.Parse,
            model => model.ClassName == "SelfAttention" ? throw new FormatException("emitter bug") : ModuleEmitter.Emit(model)));

        Assert.Null(run.Result.Results.Single().Exception);
        var error = Assert.Single(run.Diagnostics);
        Assert.Equal("SLG0022", error.Id);
        Assert.Contains("'Models.SelfAttention' while writing its generated code: System.FormatException: emitter bug", error.GetMessage());
        Assert.Contains(run.Result.GeneratedTrees, t => t.FilePath.EndsWith("Mlp.SingLoRA.g.cs", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(nameof(Cases.LinearTargets), "Models.SelfAttention", "q,k")]
    [InlineData(nameof(Cases.LayerChoice), "Models.Llama.DecoderLayer", "q_proj,v_proj")]
    public void The_members_the_generator_emits_are_the_shared_list_the_analyzers_check(string caseName, string typeName, string targets)
    {
        var run = CompileHarness.RunGenerator(CompileHarness.Compile(Cases.All[caseName]));
        var generated = run.Result.GeneratedTrees.ToHashSet();
        var type = run.Output.GetTypeByMetadataName(typeName)!;
        var emitted = type.GetMembers()
            .Where(m => !m.IsImplicitlyDeclared && m is not IMethodSymbol { AssociatedSymbol: not null } && m.DeclaringSyntaxReferences.All(r => generated.Contains(r.SyntaxTree)))
            .Where(m => m is not IPropertySymbol { ExplicitInterfaceImplementations.Length: > 0 })   // ISingLoRAModule.Descriptor: an explicit implementation collides with nothing
            .Select(m => m.Name).Distinct().OrderBy(n => n, StringComparer.Ordinal).ToArray();
        var expected = GeneratedNames.ClassMembers
            .Append(GeneratedNames.RegisterComponents)
            .Concat(targets.Split(',').Select(GeneratedNames.AdapterProperty))
            .OrderBy(n => n, StringComparer.Ordinal).ToArray();
        Assert.Equal(expected, emitted);
    }
}
