using System.Threading.Tasks;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Testing;
using Xunit;
using V = SingLoRA.Analyzers.Tests.Verify<SingLoRA.Analyzers.SingLoRAModuleAnalyzer>;

namespace SingLoRA.Analyzers.Tests;

/// <summary>The class-level diagnostics: options, targets, layer sizes, the class's shape and generated members.</summary>
public class ModuleAnalyzerTests
{
    private static string Attention(string attribute, string qSize = "16, 16", string kSize = "16, 16", string extra = "") =>
        TestModels.Attention(attribute, qSize, kSize, extra);

    [Fact]
    public Task Valid_model_has_no_diagnostics() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\", Alpha = 8, RampLength = 10, Dropout = 0.1, Scaling = ScalingRule.AlphaOverSqrtRank, Init = AdapterInit.Gaussian)"));

    // --- SLG0001 rank

    [Fact]
    public Task Rank_zero_is_reported() => V.AnalyzeAsync(Attention("SingLoRA(Rank = {|SLG0001:0|}, Targets = \"q,k\")"));

    [Fact]
    public Task Rank_negative_is_reported() => V.AnalyzeAsync(Attention("SingLoRA(Rank = {|SLG0001:-3|}, Targets = \"q,k\")"));

    [Fact]
    public Task Rank_missing_is_reported_on_the_attribute() => V.AnalyzeAsync(Attention("{|SLG0001:SingLoRA(Targets = \"q,k\")|}"));

    [Fact]
    public Task Rank_from_a_constant_expression_is_accepted() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = Attention.R * 2, Targets = \"q,k\")", extra: "    public const int R = 2;"));

    // --- SLG0006..SLG0009 options

    [Fact]
    public Task Alpha_not_positive_is_reported() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\", Alpha = {|SLG0006:0|})"));

    [Fact]
    public Task Alpha_nan_is_reported() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\", Alpha = {|SLG0006:double.NaN|})"));

    [Fact]
    public Task Dropout_of_one_is_reported() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\", Dropout = {|SLG0007:1.0|})"));

    [Fact]
    public Task Negative_dropout_is_reported() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\", Dropout = {|SLG0007:-0.1|})"));

    [Fact]
    public Task Dropout_zero_is_accepted() => V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\", Dropout = 0)"));

    [Fact]
    public Task Negative_ramp_is_reported() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\", RampLength = {|SLG0008:-1|})"));

    [Fact]
    public Task No_ramp_is_an_info() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\", RampLength = {|SLG0027:0|})"));

    [Fact]
    public Task A_ramp_is_accepted() => V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\", RampLength = 1)"));

    [Fact]
    public Task Undefined_enum_values_are_reported() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\", Scaling = {|SLG0009:(ScalingRule)7|}, Init = {|SLG0009:(AdapterInit)9|})"));

    // --- SLG0010..SLG0013 targets

    [Fact]
    public Task Empty_targets_are_reported() => V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = {|SLG0010:\" \"|})"));

    [Fact]
    public Task Missing_targets_are_reported_on_the_attribute() => V.AnalyzeAsync(Attention("{|SLG0010:SingLoRA(Rank = 4)|}"));

    [Fact]
    public Task Empty_entry_is_reported() => V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = {|SLG0010:\"q,,k\"|})"));

    [Fact]
    public Task Duplicate_target_is_reported_at_the_repeat() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q, k, {|SLG0011:q|}\")"));

    [Fact]
    public Task Unknown_target_suggests_the_closest_field() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,kk\")"),
            V.Diagnostic("SLG0012").WithSpan("/0/Test0.cs", 7, 34, 7, 36).WithArguments("kk", "Attention", "; did you mean 'k'?"));

    [Fact]
    public Task Target_naming_a_property_is_reported() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,{|SLG0012:K|}\")", extra: "    public Linear K => k;"));

    [Fact]
    public Task Target_of_an_unadaptable_type_is_reported() =>
        V.AnalyzeAsync("""
            public sealed class MyLinear : Module<Tensor, Tensor>
            {
                public MyLinear() : base("mine") { }
                public override Tensor forward(Tensor x) => x;
            }

            [SingLoRA(Rank = 4, Targets = "{|SLG0013:attn|},{|SLG0013:mine|},{|SLG0013:seq|},{|SLG0013:shared|},ok")]
            public partial class Block : Module<Tensor, Tensor>
            {
                private readonly MultiheadAttention attn = MultiheadAttention(16, 2);
                private readonly MyLinear mine = new MyLinear();
                private readonly Module<Tensor, Tensor> seq;
                private static Linear shared = Linear(4, 4);
                private readonly Module<Tensor, Tensor> ok;
                public Block(Module<Tensor, Tensor> layer) : base("block") { seq = Sequential(Linear(4, 4)); ok = layer; RegisterComponents(); }
                public override Tensor forward(Tensor x) => ok.forward(seq.forward(mine.forward(x)));
            }
            """);

    // --- SLG0015..SLG0017 the class

    [Fact]
    public Task Class_not_partial_is_reported() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\")").Replace("public partial class Attention", "public class {|SLG0015:Attention|}"));

    [Fact]
    public Task Containing_type_not_partial_is_reported() =>
        V.AnalyzeAsync("public static class Outer\n{\n" + Attention("SingLoRA(Rank = 4, Targets = \"q,k\")").Replace("public partial class Attention", "private partial class {|SLG0016:Attention|}") + "\n}");

    [Fact]
    public Task Nested_class_in_partial_types_is_accepted() =>
        V.AnalyzeAsync("public static partial class Outer\n{\n" + Attention("SingLoRA(Rank = 4, Targets = \"q,k\")").Replace("public partial class", "private partial class") + "\n}");

    [Fact]
    public Task Generic_class_is_accepted() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\")").Replace("class Attention :", "class Attention<TTag> :").Replace("nameof(Attention)", "\"attention\""));

    [Fact]
    public Task Class_that_is_not_a_module_is_reported() =>
        V.AnalyzeAsync("""
            [SingLoRA(Rank = 4, Targets = "q,k")]
            public partial class {|SLG0017:Holder|}
            {
                private readonly Linear q = Linear(8, 8), k = Linear(8, 8);
            }
            """);

    [Fact]
    public Task Static_and_file_local_classes_are_reported() =>
        V.AnalyzeAsync("""
            [SingLoRA(Rank = 4, Targets = "{|SLG0012:q|}")]
            public static partial class {|SLG0017:Holder|}
            {
            }

            [SingLoRA(Rank = 4, Targets = "q")]
            file partial class {|SLG0017:Local|} : Module<Tensor, Tensor>
            {
                private readonly Linear q = Linear(8, 8);
                public Local() : base("local") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => q.forward(x);
            }
            """);

    [Fact]
    public Task An_annotated_class_deriving_from_an_annotated_class_is_reported() =>
        V.AnalyzeAsync("""
            [SingLoRA(Rank = 4, Targets = "q")]
            public partial class Base : Module<Tensor, Tensor>
            {
                protected readonly Linear q = Linear(8, 8);
                public Base() : base("base") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => q.forward(x);
            }

            [SingLoRA(Rank = 4, Targets = "k, {|SLG0013:q|}")]
            public partial class {|SLG0026:Derived|} : Base
            {
                private readonly Linear k = Linear(8, 8);
                public Derived() { RegisterComponents(); }
            }
            """);

    // --- SLG0018 / SLG0019 generated members

    [Fact]
    public Task Members_colliding_with_generated_ones_are_reported() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\")", extra: """
                public int {|SLG0018:SingLoRAOptions|};
                public Linear {|SLG0018:QAdapter|} => q;
                public int {|SLG0018:Adapters|};
                public Linear KAdapters => k;
            """));

    [Fact]
    public Task The_interface_operations_are_not_generated_so_a_member_of_that_name_is_no_collision() =>
        // AdvanceRamp, MergeAdapters, ... are ISingLoRAModule's default members: a class may declare its own.
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\")", extra: """
                public void AdvanceRamp() { }
                public string MergeAdapters(int which) => "";
            """));

    [Fact]
    public Task Targets_sharing_an_adapter_property_are_reported() =>
        V.AnalyzeAsync("""
            [SingLoRA(Rank = 4, Targets = "q_proj,{|SLG0018:qProj|}")]
            public partial class Attention : Module<Tensor, Tensor>
            {
                private readonly Linear q_proj = Linear(8, 8), qProj = Linear(8, 8);
                public Attention() : base("attention") { RegisterComponents(); }
                public override Tensor forward(Tensor x) => q_proj.forward(x) + qProj.forward(x);
            }
            """);

    [Fact]
    public Task Generated_members_in_generated_files_are_not_collisions() =>
        V.AnalyzeAsync(new[]
        {
            Attention("SingLoRA(Rank = 4, Targets = \"q,k\")"),
            """
            // <auto-generated/>
            partial class Attention
            {
                public void AdvanceRamp() { }
                public Linear QAdapter => q;
                protected override void RegisterComponents() => base.RegisterComponents();
            }
            """,
        }, null);

    [Fact]
    public Task User_register_components_override_is_reported() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\")", extra: "    protected override void {|SLG0019:RegisterComponents|}() => base.RegisterComponents();"));

    // --- SLG0020 RegisterComponents()

    [Fact]
    public Task Missing_register_components_is_reported() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\")")
            .Replace("        RegisterComponents();\n", "").Replace("public partial class Attention", "public partial class {|SLG0020:Attention|}"));

    [Fact]
    public Task Register_components_in_a_chained_constructor_is_enough() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\")", extra: "    public Attention(string unused) : this() { }"));

    [Fact]
    public Task Missing_register_components_can_be_turned_off_in_editorconfig() =>
        V.AnalyzeAsync(new[] { Attention("SingLoRA(Rank = 4, Targets = \"q,k\")").Replace("        RegisterComponents();\n", "") }, null,
            "root = true\n[*.cs]\ndotnet_diagnostic.SLG0020.severity = none\n");

    // --- SLG0028..SLG0031 the layers of a stack (LayerIndex, Layers)

    private static string Indexed(string layerArguments, string field = "    public int layer_idx = 2;", string register = "        RegisterComponents();\n") =>
        Attention($"SingLoRA(Rank = 4, Targets = \"q,k\", {layerArguments})", extra: field).Replace("        RegisterComponents();\n", register);

    [Fact]
    public Task LayerIndex_and_Layers_are_accepted() => V.AnalyzeAsync(Indexed("LayerIndex = nameof(layer_idx), Layers = \"0-3, 8\""));

    [Fact]
    public Task LayerIndex_alone_is_accepted_and_may_name_a_property_with_an_initializer() =>
        V.AnalyzeAsync(Indexed("LayerIndex = nameof(LayerIdx)", field: "    public int LayerIdx { get; } = 1;"));

    [Fact]
    public Task A_layer_index_assigned_before_RegisterComponents_is_accepted() =>
        V.AnalyzeAsync(Indexed("LayerIndex = nameof(layer_idx), Layers = \"1\"", field: "    private readonly int layer_idx;",
            register: "        layer_idx = 1;\n        RegisterComponents();\n"));

    [Fact]
    public Task A_layer_index_never_assigned_before_RegisterComponents_is_reported_at_the_call() =>
        V.AnalyzeAsync(Indexed("LayerIndex = nameof(layer_idx), Layers = \"1\"", field: "    private readonly int layer_idx;",
            register: "        {|SLG0031:RegisterComponents()|};\n        this.layer_idx = 1;\n"));

    /// <summary>A layer of a stack whose constructor body and extra members are given; it reads layer_idx in forward.</summary>
    private static string Stack(string constructor, string members = "", string bases = "Module<Tensor, Tensor>") => $$"""
        [SingLoRA(Rank = 4, Targets = "q", LayerIndex = nameof(layer_idx), Layers = "1")]
        public partial class Layer : {{bases}}
        {
            private readonly Linear q = Linear(8, 8);
            private int layer_idx;

            public Layer(int idx) : base(nameof(Layer))
            {
        {{constructor}}
            }

            public override Tensor forward(Tensor x) => q.forward(x) * layer_idx;
        {{members}}
        }
        """;

    [Fact]
    public Task A_layer_index_assigned_in_a_helper_called_before_RegisterComponents_is_accepted() =>
        V.AnalyzeAsync(Stack("Init(idx);\nRegisterComponents();", "private void Init(int i) { layer_idx = i; }"));

    [Fact]
    public Task A_layer_index_assigned_two_helpers_deep_is_accepted() =>
        V.AnalyzeAsync(Stack("this.Setup(idx);\nRegisterComponents();",
            "private void Setup(int i) => Index(i);\nprivate void Index(int i) { Again(); this.layer_idx = i; }\nprivate void Again() => Setup(0);"));

    [Fact]
    public Task A_layer_index_assigned_in_a_local_function_called_before_RegisterComponents_is_accepted() =>
        V.AnalyzeAsync(Stack("Set();\nRegisterComponents();\nvoid Set() => layer_idx = idx;"));

    [Fact]
    public Task A_helper_called_after_RegisterComponents_does_not_count() =>
        V.AnalyzeAsync(Stack("q.weight.requires_grad = false;\n{|SLG0031:this.RegisterComponents()|};\nInit(idx);",
            "private void Init(int i) { layer_idx = i; }"));

    [Fact]
    public Task A_base_RegisterComponents_call_is_a_registration_point_too() =>
        V.AnalyzeAsync(Stack("{|SLG0031:base.RegisterComponents()|};\nlayer_idx = idx;"));

    [Fact]
    public Task A_helper_that_does_not_assign_the_index_does_not_count() =>
        V.AnalyzeAsync(Stack("Freeze();\n{|SLG0031:RegisterComponents()|};\nlayer_idx = idx;",
            "private void Freeze() { q.weight.requires_grad = false; }"));

    [Theory]
    [InlineData("Configure(idx);\nRegisterComponents();", "protected virtual void Configure(int i) { layer_idx = i; }")]
    [InlineData("Configure(idx);\nRegisterComponents();", "protected virtual void Configure(int i) { }")]
    [InlineData("LayerSetup.Apply(this, idx);\nRegisterComponents();",
        "internal void Set(int i) => layer_idx = i;\n}\npublic static class LayerSetup\n{\npublic static void Apply(Layer l, int i) => l.Set(i);")]
    [InlineData("((IIndexed)this).SetIndex(idx);\nRegisterComponents();",
        "void IIndexed.SetIndex(int i) => layer_idx = i;\n}\npublic interface IIndexed\n{\nvoid SetIndex(int i);", "Module<Tensor, Tensor>, IIndexed")]
    public Task A_call_the_analyzer_cannot_follow_before_RegisterComponents_is_not_reported(string constructor, string members, string bases = "Module<Tensor, Tensor>") =>
        V.AnalyzeAsync(Stack(constructor, members, bases));

    [Theory]
    [InlineData("    public int depth;", "names no field or property of the class")]
    [InlineData("    public long layer_idx;", "names a member of type long, not int")]
    [InlineData("    public static int layer_idx;", "names a static member (the index differs per instance)")]
    [InlineData("    public int layer_idx() => 0;", "names a method")]
    [InlineData("    public int layer_idx { set { } }", "names a property without a getter")]
    public Task A_LayerIndex_that_names_no_usable_int_member_is_an_error(string field, string why) =>
        V.AnalyzeAsync(Indexed("LayerIndex = {|#0:\"layer_idx\"|}", field: field),
            V.Diagnostic("SLG0028").WithLocation(0).WithArguments("layer_idx", "Attention", why));

    [Theory]
    [InlineData("", "is empty; write the layer indices to adapt, for example \"0-3, 8\", or remove Layers to adapt every layer")]
    [InlineData("0-3,,8", "has an empty entry")]
    [InlineData("0-3, x", "has the entry 'x', which is neither an index (8) nor a range (0-3) of non-negative integers")]
    [InlineData("-1", "has the entry '-1', which is neither an index (8) nor a range (0-3) of non-negative integers")]
    [InlineData("5-2", "has the range '5-2', whose first index is larger than its last; write it as 2-5")]
    public Task Layers_that_are_not_indices_and_ranges_are_an_error(string layers, string why) =>
        V.AnalyzeAsync(Indexed($"LayerIndex = nameof(layer_idx), Layers = {{|#0:\"{layers}\"|}}"),
            V.Diagnostic("SLG0029").WithLocation(0).WithArguments("Attention", why));

    [Fact]
    public Task Layers_without_LayerIndex_is_an_error() => V.AnalyzeAsync(Indexed("Layers = {|SLG0030:\"0-3\"|}"));

    // --- The attribute twice: the compiler already reports CS0579 (AllowMultiple = false); nothing is added.

    [Fact]
    public Task Attribute_twice_is_left_to_the_compiler() =>
        V.AnalyzeAsync(Attention("SingLoRA(Rank = 4, Targets = \"q,k\")][{|CS0579:SingLoRA|}(Rank = 8, Targets = \"q\")"));
}
