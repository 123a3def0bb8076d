using System;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using SingLoRA.AdapterFiles;
using TorchSharp;
using TorchSharp.Modules;
using Xunit;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace SingLoRA.Tests.Docs;

/// <summary>A decoder layer like the one docs/usage.md adapts: it knows its position.</summary>
[SingLoRA(Rank = 2, Targets = "q,v", RampLength = 10, LayerIndex = nameof(layer_idx))]
public partial class DocLayer : Module<Tensor, Tensor>
{
    private readonly int layer_idx;
    private readonly Linear q;
    private readonly Module<Tensor, Tensor> v;

    public DocLayer(int index) : base(nameof(DocLayer))
    {
        layer_idx = index;
        q = Linear(32, 32);
        v = Linear(32, 32);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => x + q.forward(x).tanh() + v.forward(x);
}

/// <summary>The <c>MyTransformer</c> of docs/usage.md: 24 layers and a classification head.</summary>
public sealed class MyTransformer : Module<Tensor, Tensor>
{
    private readonly ModuleList<DocLayer> layers;
    private readonly Linear classifier;

    public MyTransformer() : base(nameof(MyTransformer))
    {
        layers = ModuleList(Enumerable.Range(0, 24).Select(i => new DocLayer(i)).ToArray());
        classifier = Linear(32, 3);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        foreach (var layer in layers) x = layer.forward(x);
        return classifier.forward(x);
    }
}

/// <summary>
/// The "Adapters under your control" block of docs/usage.md, run in the order shown (issue 23: pasted in order it used to
/// fail). The test's statements are the doc's lines with <c>"out/</c> standing for a temporary folder, and the test checks
/// that every one of them is still in the doc, so the two cannot drift apart.
/// </summary>
public class UsageSnippetTests
{
    private static readonly string Root = Path.Combine(Path.GetTempPath(), "singlora-usage-" + Guid.NewGuid().ToString("N"));

    private static string Out(string name) => Path.Combine(Root, name);

    [Fact]
    public void The_adapter_control_block_runs_in_the_order_shown()
    {
        using var scope = torch.NewDisposeScope();
        try
        {
            // What the block assumes exists: a model, an input, and two adapter folders saved by other runs.
            MyTransformer model = new MyTransformer(), plain;
            var x = torch.randn(2, 32);
            Tensor baseline;
            MyTransformer other, bf16;
            using (SingLoRAOverrides.Layers("20-23")) { other = new MyTransformer(); bf16 = new MyTransformer(); }
            other.FreezeAllButAdapters();
            other.SaveAdapters(Out("medical"));
            bf16.to(ScalarType.BFloat16);
            bf16.FreezeAllButAdapters();
            bf16.SaveAdapters(Out("bf16-run"));

            using (model.DisableAdapters()) baseline = model.forward(x);   // exactly the base model (bit for bit); adapters kept
            using (SingLoRAOverrides.WithoutAdapters()) plain = new MyTransformer();   // the annotated classes with no adapter at all
            using (SingLoRAOverrides.Layers(20, 21, 22, 23)) model = new MyTransformer();   // adapt only these layers of the stack
            model.UnloadAdapters(path => path.StartsWith("layers.0."));   // take adapters out by module path (PEFT's unload())

            model.FreezeAllButAdapters();                           // SaveAdapters refuses to leave trained parameters behind
            model.AddAdapter("legal", o => o with { Rank = 16 });   // a second named adapter: own A, options and ramp step
            model.SetActiveAdapter("legal");                        // O(1): no tensor copied; only the active adapter trains
            model.SaveAdapters(Out("legal"), modulesToSave: ["classifier"]);   // the active adapter, and a head trained beside it
            model.LoadAdapters(Out("medical"), adapterName: "medical");        // adds "medical" from the file's options
            model.MergeAdapters("medical"); model.UnmergeAdapters();          // activates "medical", merges, unmerges
            model.SetActiveAdapter("default"); model.DeleteAdapter("medical"); model.DeleteAdapter("legal");
            model.LoadAdapters(Out("bf16-run"), convert: true);      // into the active adapter; dtypes converted only when asked

            Assert.Empty(plain.GetAdaptedLayers());
            Assert.Equal(8, model.GetAdaptedLayers().Count);   // layers 20-23, q and v each
            Assert.Equal(new[] { "default" }, model.AdapterNames());
            Assert.True(baseline.isfinite().all().item<bool>());
        }
        finally
        {
            if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
        }
    }

    [Fact]
    public void Every_statement_of_the_test_is_in_the_doc_block()
    {
        string doc = File.ReadAllText(RepoFile("docs", "usage.md"));
        int start = doc.IndexOf("## Adapters under your control", StringComparison.Ordinal);
        var block = Regex.Match(doc[start..], "```csharp\n(.*?)```", RegexOptions.Singleline).Groups[1].Value;
        var docLines = block.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        string test = File.ReadAllText(RepoFile("tests", "SingLoRA.Tests", "Docs", "UsageSnippetTests.cs"));
        var ran = test[test.IndexOf("using (model.DisableAdapters())", StringComparison.Ordinal)..test.IndexOf("Assert.Empty(plain", StringComparison.Ordinal)]
            .Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0)
            .Select(l => Regex.Replace(l, @"Out\(""([^""]+)""\)", "\"out/$1\"")).ToList();
        Assert.Equal(docLines, ran);
    }

    private static string RepoFile(params string[] parts) => Path.Combine(new[] { SingLoRA.Tests.AdapterFiles.PythonProcess.RepoRoot() }.Concat(parts).ToArray());
}
