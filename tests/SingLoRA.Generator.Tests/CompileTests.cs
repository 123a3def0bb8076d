using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using SingLoRA.Generator.Tests.Infrastructure;
using Xunit;

namespace SingLoRA.Generator.Tests;

/// <summary>User code plus generated code compiles cleanly: nullable on, every warning an error, interceptors bound.</summary>
public class CompileTests
{
    [Theory]
    [MemberData(nameof(Cases.Names), MemberType = typeof(Cases))]
    public void Generated_code_compiles_without_warnings(string name)
    {
        var input = GeneratorHarness.Compile(Cases.All[name]);
        var (_, output, _) = GeneratorHarness.Run(input);
        Assert.Empty(GeneratorHarness.Problems(output));
        using var stream = new MemoryStream();
        var emit = output.Emit(stream);
        Assert.True(emit.Success, string.Join("\n", emit.Diagnostics));
    }

    [Fact]
    public void Generated_members_implement_ISingLoRAModule()
    {
        var (_, output, _) = GeneratorHarness.Run(GeneratorHarness.Compile(("A.cs", Cases.LinearTargets)));
        var type = output.GetTypeByMetadataName("Models.SelfAttention")!;
        Assert.Contains(type.AllInterfaces, i => i.ToDisplayString() == "SingLoRA.ISingLoRAModule");
        Assert.NotNull(type.GetMembers("QAdapter").SingleOrDefault());
        Assert.NotNull(type.GetMembers("KAdapter").SingleOrDefault());
        Assert.Empty(type.GetMembers("VAdapter"));
    }

    [Fact]
    public void Every_call_on_a_Linear_target_is_intercepted_and_nothing_else()
    {
        var (result, _, _) = GeneratorHarness.Run(GeneratorHarness.Compile(("SelfAttention.cs", Cases.LinearTargets)));
        var interceptors = result.Results.Single().GeneratedSources.Single(s => s.HintName.EndsWith(".Interceptors.g.cs")).SourceText.ToString();
        // q.forward, this.k.forward, k.call inside a lambda; v.forward is not a target.
        Assert.Equal(3, interceptors.Split("InterceptsLocation(1,").Length - 1);
        Assert.DoesNotContain("\"v\"", interceptors);
    }

    [Fact]
    public void Module_targets_need_no_interceptors()
    {
        var (result, _, _) = GeneratorHarness.Run(GeneratorHarness.Compile(("A.cs", Cases.ModuleTargets)));
        var source = Assert.Single(result.Results.Single().GeneratedSources);
        Assert.Contains("static (module, adapter) => global::System.Runtime.CompilerServices.Unsafe.AsRef(in module.q_proj) = adapter", source.SourceText.ToString());
        Assert.Contains("static (module, adapter) => module.wq = adapter", source.SourceText.ToString());
    }

    [Theory]
    [InlineData("not partial", """
        [SingLoRA(Rank = 2, Targets = "q")]
        public class A : Module<Tensor, Tensor>
        {
            private readonly Linear q = Linear(4, 4);
            public A() : base("A") => RegisterComponents();
            public override Tensor forward(Tensor x) => q.forward(x);
        }
        """)]
    [InlineData("not a TorchSharp module", """
        [SingLoRA(Rank = 2, Targets = "q")]
        public partial class A
        {
            private readonly Linear q = Linear(4, 4);
        }
        """)]
    [InlineData("containing type not partial", """
        public class Outer
        {
            [SingLoRA(Rank = 2, Targets = "q")]
            public partial class A : Module<Tensor, Tensor>
            {
                private readonly Linear q = Linear(4, 4);
                public A() : base("A") => RegisterComponents();
                public override Tensor forward(Tensor x) => q.forward(x);
            }
        }
        """)]
    [InlineData("user RegisterComponents override", """
        [SingLoRA(Rank = 2, Targets = "q")]
        public partial class A : Module<Tensor, Tensor>
        {
            private readonly Linear q = Linear(4, 4);
            public A() : base("A") => RegisterComponents();
            protected override void RegisterComponents() => base.RegisterComponents();
            public override Tensor forward(Tensor x) => q.forward(x);
        }
        """)]
    public void Unsupported_classes_get_no_output(string why, string source)
    {
        var (result, _, _) = GeneratorHarness.Run(GeneratorHarness.Compile(("A.cs", Cases.Usings + source)));
        Assert.True(result.Results.Single().GeneratedSources.IsEmpty, why);
    }

    [Fact]
    public void The_attribute_on_two_partial_declarations_still_generates_once()
    {
        var part = Cases.Usings + """
            [SingLoRA(Rank = 2, Targets = "q")]
            public partial class A : Module<Tensor, Tensor>
            {
            }
            """;
        var main = Cases.Usings + """
            [SingLoRA(Rank = 2, Targets = "q")]
            public partial class A
            {
                private readonly Linear q = Linear(4, 4);
                public A() : base("A") => RegisterComponents();
                public override Tensor forward(Tensor x) => q.forward(x);
            }
            """;
        var (result, _, _) = GeneratorHarness.Run(GeneratorHarness.Compile(("A1.cs", part), ("A2.cs", main)));
        Assert.Single(result.Results.Single().GeneratedSources, s => s.HintName == "A.SingLoRA.g.cs");
    }

    [Fact]
    public void A_target_named_like_a_generated_field_still_compiles()
    {
        // Before the generated fields were renamed, a target named "options" got an adapter field "__singlora_options",
        // the name of the options field too (CS0102 in generated code).
        var source = Cases.Usings + """
            [SingLoRA(Rank = 2, Targets = "options, adapter")]
            public partial class A : Module<Tensor, Tensor>
            {
                private readonly Linear options = Linear(4, 4);
                private readonly Module<Tensor, Tensor> adapter = Linear(4, 4);
                public A() : base("A") => RegisterComponents();
                public override Tensor forward(Tensor x) => options.forward(x) + adapter.forward(x);
            }
            """;
        var (_, output, _) = GeneratorHarness.Run(GeneratorHarness.Compile(("A.cs", source)));
        Assert.Empty(GeneratorHarness.Problems(output));
    }

    [Fact]
    public void Broken_user_code_does_not_make_the_generator_throw()
    {
        var source = Cases.Usings + """
            [SingLoRA(Rank = "eight", Targets = 3, Alpha = null)]
            public partial class A : Module<Tensor, Tensor>
            {
                private readonly Linear q = Linear(4, 4)
                public override Tensor forward(Tensor x) => q.forward(x, 1) + q.call();
            }
            """;
        var driver = GeneratorHarness.CreateDriver().RunGenerators(GeneratorHarness.Compile(("A.cs", source)));
        var result = driver.GetRunResult().Results.Single();
        Assert.Null(result.Exception);
        Assert.Empty(result.Diagnostics);
    }

    [Fact]
    public void A_class_that_error_recovery_splits_in_two_does_not_make_the_generator_throw()
    {
        // Found by the fuzz test (seed 7, case 53): a misplaced brace and a half-typed second [SingLoRA] give two
        // declarations that both produce output under one hint name; Roslyn rejects that across output callbacks.
        var source = Cases.Usings + """
            [SingLoRA(Rank = 8, Targets = "query,key")]
            public partial class CrossAttention : Module<Tensor, Tensor>
            {
                public CrossAttention(int d) : base(nameof(CrossAttention))
                {
                    query = Linear(d, d);
                    key = Linear(d, d);
                    RegisterComponents();
            }
                }
            [SingLoRA(Rank = 
            public partial class CrossAttention
            {
                private Linear query;
                private Linear key;
                public override Tensor forward(Tensor x) => query.forward(x).matmul(key.forward(x).transpose(-1, -2));
            }
            """;
        var driver = GeneratorHarness.CreateDriver().RunGenerators(GeneratorHarness.Compile(("A.cs", source)));
        var result = driver.GetRunResult().Results.Single();
        Assert.Null(result.Exception);
        Assert.Equal(result.GeneratedSources.Length, result.GeneratedSources.Select(s => s.HintName).Distinct(System.StringComparer.OrdinalIgnoreCase).Count());
    }

    [Fact]
    public void Calls_in_local_functions_with_parentheses_or_suppression_are_intercepted()
    {
        var source = Cases.Usings + """
            [SingLoRA(Rank = 2, Targets = "q")]
            public partial class A : Module<Tensor, Tensor>
            {
                private Linear? q = Linear(4, 4);
                public A() : base("A") => RegisterComponents();
                public override Tensor forward(Tensor x)
                {
                    Tensor Local(Tensor t) => q!.forward(t);
                    return Local(x) + (this.q!).call(x) + Other(x);
                }
                private static Tensor Other(Tensor x) => x;
            }
            """;
        var (result, output, _) = GeneratorHarness.Run(GeneratorHarness.Compile(("A.cs", source)));
        Assert.Empty(GeneratorHarness.Problems(output));
        var interceptors = result.Results.Single().GeneratedSources.Single(s => s.HintName.EndsWith(".Interceptors.g.cs")).SourceText.ToString();
        Assert.Equal(2, interceptors.Split("InterceptsLocation(1,").Length - 1);
    }

    [Fact]
    public void Without_the_interceptors_opt_in_the_compiler_names_the_missing_property()
    {
        var compilation = GeneratorHarness.Compile(("A.cs", Cases.LinearTargets));
        var withoutOptIn = compilation.RemoveAllSyntaxTrees().AddSyntaxTrees(compilation.SyntaxTrees.Select(t =>
            t.WithRootAndOptions(t.GetRoot(), GeneratorHarness.ParseOptions.WithFeatures(System.Array.Empty<System.Collections.Generic.KeyValuePair<string, string>>()))));
        var driver = Microsoft.CodeAnalysis.CSharp.CSharpGeneratorDriver.Create(
            new[] { new SingLoRAGenerator().AsSourceGenerator() },
            parseOptions: GeneratorHarness.ParseOptions.WithFeatures(System.Array.Empty<System.Collections.Generic.KeyValuePair<string, string>>()));
        driver.RunGeneratorsAndUpdateCompilation(withoutOptIn, out var output, out _);
        var error = Assert.Single(output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.Id).Distinct());
        Assert.Equal("CS9137", error);
        Assert.Contains("SingLoRA.Generated", output.GetDiagnostics().First(d => d.Id == "CS9137").GetMessage());
    }
}
