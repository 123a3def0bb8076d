using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using Onnx;
using OnnxSpamFilter;
using SingLoRA;
using SingLoRA.AdapterFiles;
using SpamFilter;
using SpamFilter.Data;
using SpamFilter.MiniLM;
using SpamFilter.Onnx;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SingLoRA.Tests.SpamFilter;

/// <summary>
/// A fine-tuned classifier (SingLoRA on query, key, value of every layer with non-zero adapters and the ramp finished, and
/// a random head) saved as <c>train</c> saves it, exported to ONNX once for the tests of this class, and real SpamAssassin
/// test e-mails to run it on.
/// </summary>
public sealed class OnnxExportFixture : IDisposable
{
    public OnnxExportFixture()
    {
        Root = Path.Combine(Path.GetTempPath(), "singlora-onnx-" + Guid.NewGuid().ToString("N"));
        Adapters = Path.Combine(Root, "adapters");
        Exported = Path.Combine(Root, "onnx");
        var tarball = SpamAssassin.EnsureTarball(Path.Combine(RealModelCache.Root, "spam-assassin"));
        // 24 real test e-mails (longer than 64 tokens: cut, [SEP] last) and four short lines (padded in a batch with them).
        Emails = SpamAssassin.Load(tarball).Where(e => e.Split == Split.Test).Take(24).Select(e => e.Text)
            .Concat(MiniLMEquivalenceTests.Sentences.Skip(4).Take(4)).ToArray();
        Model = Classifier(seed: 7);
        Labels = new LabelSet { Labels = new[] { "ham", "spam" }, MaxTokens = 64, Data = "OnnxExportTests" };
        var config = Model.SaveAdapters(Adapters, modulesToSave: new[] { TextClassifierModel.Head });
        (Labels with { WeightsSha256 = config.WeightsSha256 }).Write(Adapters);
    }

    /// <summary>A classifier as a user fine-tunes one: rank 8, ramp 0 (finished), seeded non-zero adapters, a random head with logits of a few units.</summary>
    public static SpamClassifier Classifier(long seed, bool zeroAdapters = false)
    {
        manual_seed(seed);
        var config = new SingLoRAConfig(new SingLoRAOptions(8, 8, 0)) { ModulesToSave = new[] { TextClassifierModel.Head } }.Validate();
        var model = TextClassifierModel.ForTraining(RealModelCache.Checkpoint, 2, config);
        using (no_grad())
        {
            foreach (var a in model.AdapterParameters()) a.copy_(zeroAdapters ? zeros_like(a) : randn_like(a) * 0.05);
            model.Classifier.weight!.copy_(randn_like(model.Classifier.weight) * 0.5);
            model.Classifier.bias!.copy_(randn_like(model.Classifier.bias!) * 0.1);
        }
        model.eval();
        return model;
    }

    public string Root { get; }

    /// <summary>The folder <c>train</c> would have written: adapters, head, labels.json.</summary>
    public string Adapters { get; }

    /// <summary>Where the tests export to.</summary>
    public string Exported { get; }

    public SpamClassifier Model { get; }

    public LabelSet Labels { get; }

    public string[] Emails { get; }

    public void Dispose()
    {
        Model.Dispose();
        if (Directory.Exists(Root)) Directory.Delete(Root, recursive: true);
    }
}

/// <summary>
/// The ONNX export of a fine-tuned classifier: ONNX Runtime alone computes what TorchSharp computes, the file holds the
/// merged weights in the graph's own layouts, a failed export changes nothing, and <c>predict-onnx</c> labels texts.
/// </summary>
public class OnnxExportTests : IClassFixture<OnnxExportFixture>
{
    private readonly OnnxExportFixture _f;
    private readonly ITestOutputHelper _output;

    public OnnxExportTests(OnnxExportFixture fixture, ITestOutputHelper output)
    {
        _f = fixture;
        _output = output;
    }

    private static (int Code, string Console, string Output) Run(string[] args, string? stdin = null)
    {
        var (console, text) = SpamFilterSmokeTests.CaptureConsole();
        var output = new StringWriter();
        int code = global::SpamFilter.SpamFilterApp.Run(args, console, new StringReader(stdin ?? ""), output);
        return (code, text.ToString(), output.ToString());
    }

    private string NewDir() => Path.Combine(_f.Root, Guid.NewGuid().ToString("N"));

    /// <summary>Bit-for-bit equal values (and shapes); -0 and +0 count as equal.</summary>
    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.dtype == b.dtype && a.eq(b).all().item<bool>();

    /// <summary>The console text on one line: Spectre wraps long messages.</summary>
    private static string Flat(string text) => string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    private static Dictionary<string, Tensor> ExportedState(string folder) =>
        OnnxCheckpoint.ToStateDict(ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(folder, OnnxTextClassifier.ModelFile))).Graph);

    [Fact]
    public void ONNX_Runtime_on_the_export_gives_TorchSharps_logits_on_real_emails()
    {
        var dir = NewDir();
        var before = _f.Model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        var result = OnnxExport.Export(_f.Model, RealModelCache.Checkpoint, _f.Labels, dir);
        Assert.Equal(6 * 16 + 5, result.Weights);   // every encoder weight of all-MiniLM-L6-v2: 16 per layer, 5 in the embeddings

        // The caller's model is not changed: still adapted, every tensor as it was.
        var after = _f.Model.state_dict();
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        Assert.All(before, kv => Assert.True(Same(kv.Value, after[kv.Key]), kv.Key));
        Assert.Contains(after.Keys, k => k.Contains("singlora_A", StringComparison.Ordinal));

        using var onnx = OnnxTextClassifier.Load(dir);
        Assert.Equal(new[] { "ham", "spam" }, onnx.Labels);
        var tokens = _f.Emails.Select(e => onnx.Tokenizer.Encode(e, _f.Labels.MaxTokens)).ToList();
        Assert.Contains(tokens, t => t.Length < _f.Labels.MaxTokens);   // padding is exercised
        var ort = onnx.Logits(tokens);
        var torch = OnnxExport.Logits(_f.Model, onnx.Tokenizer, tokens);   // the adapters unmerged, as training runs them
        double difference = ort.Zip(torch).Max(p => Math.Abs(p.First - p.Second));
        double largest = torch.Max(x => Math.Abs(x));
        _output.WriteLine($"{tokens.Count} e-mails: max |logit difference| {difference:0.00e+0}, largest |logit| {largest:0.00}, relative {difference / largest:0.0e+0}");
        Assert.True(difference <= OnnxExport.Tolerance, $"ONNX Runtime and TorchSharp logits differ by up to {difference:0.00e+0}");
        int[] Argmax(float[] logits) => Enumerable.Range(0, tokens.Count).Select(i => logits[2 * i] >= logits[2 * i + 1] ? 0 : 1).ToArray();
        Assert.Equal(Argmax(torch), Argmax(ort));
        Assert.Equal(Argmax(ort), onnx.Predict(_f.Emails).Select(p => p.Class));

        // The adapters matter for these logits (so the comparison above says something about the merge).
        using var plain = OnnxExportFixture.Classifier(seed: 7, zeroAdapters: true);
        plain.Classifier.load_state_dict(_f.Model.Classifier.state_dict());
        var unadapted = OnnxExport.Logits(plain, onnx.Tokenizer, tokens);
        double effect = unadapted.Zip(torch).Max(p => Math.Abs(p.First - p.Second));
        _output.WriteLine($"the adapters move the logits by up to {effect:0.00}");
        Assert.True(effect > 0.05, $"the adapters change the logits by only {effect:0.0e+0}; the test would not see a wrong merge");
        Assert.True(largest > 0.5, $"logits of at most {largest} would make the tolerance meaningless");
    }

    [Fact]
    public void The_graph_holds_the_merged_weights_and_zero_adapters_give_the_package_encoder_back()
    {
        var dir = NewDir();
        OnnxExport.ExportFolder(_f.Adapters, RealModelCache.Checkpoint, dir);
        var package = OnnxCheckpoint.ToStateDict(ModelProto.Parser.ParseFrom(OnnxCheckpoint.OnnxBytes()).Graph);
        var exported = ExportedState(dir);

        // Read back with the same mapping: the merged weights of a fresh classifier loaded from the folder, bit for bit.
        using var merged = TextClassifierModel.FromFolder(RealModelCache.Checkpoint, 2, _f.Adapters);
        merged.MergeAndUnload();
        var expected = merged.state_dict().ToDictionary(kv => kv.Key.StartsWith("encoder.", StringComparison.Ordinal) ? kv.Key["encoder.".Length..] : kv.Key, kv => kv.Value);
        Assert.Equal(expected.Keys.Append("embeddings.position_ids").Order(StringComparer.Ordinal), exported.Keys.Order(StringComparer.Ordinal));   // the pooler is gone, the head is in
        Assert.All(expected, kv => Assert.True(Same(kv.Value, exported[kv.Key]), kv.Key));
        // Adapted weights changed, the others are the package's.
        foreach (var layer in Enumerable.Range(0, 6))
        {
            foreach (var target in new[] { "query", "key", "value" })
                Assert.False(Same(package[$"encoder.layer.{layer}.attention.self.{target}.weight"], exported[$"encoder.layer.{layer}.attention.self.{target}.weight"]), $"layer {layer} {target}");
            Assert.True(Same(package[$"encoder.layer.{layer}.intermediate.dense.weight"], exported[$"encoder.layer.{layer}.intermediate.dense.weight"]));
        }

        // Zero adapters: the exported encoder is the package's, bit for bit.
        using var zero = OnnxExportFixture.Classifier(seed: 3, zeroAdapters: true);
        var zeroDir = NewDir();
        OnnxExport.Export(zero, RealModelCache.Checkpoint, _f.Labels, zeroDir);
        var back = ExportedState(zeroDir);
        foreach (var (key, value) in package.Where(kv => !kv.Key.StartsWith("pooler.", StringComparison.Ordinal)))
            Assert.True(Same(value, back[key]), key);
        Assert.True(Same(zero.Classifier.weight!, back["classifier.weight"]));
    }

    [Fact]
    public void A_failed_export_leaves_the_old_export_as_it_was()
    {
        var dir = NewDir();
        OnnxExport.ExportFolder(_f.Adapters, RealModelCache.Checkpoint, dir);
        var model = Path.Combine(dir, OnnxTextClassifier.ModelFile);
        var hash = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(model)));

        // A label set that does not fit the head is refused before anything is written.
        using var other = OnnxExportFixture.Classifier(seed: 11);
        var three = _f.Labels with { Labels = new[] { "a", "b", "c" } };
        var refused = Assert.Throws<AdapterLoadException>(() => OnnxExport.Export(other, RealModelCache.Checkpoint, three, dir));
        Assert.Contains("classifier.weight", refused.Message);
        Assert.Equal(hash, Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(model))));

        // A failure after the new model.onnx is written (here: labels.json cannot be replaced) replaces nothing and leaves no temporary file.
        var labels = Path.Combine(dir, LabelSet.FileName);
        File.Delete(labels);
        Directory.CreateDirectory(labels);
        File.WriteAllText(Path.Combine(labels, "blocker"), "a folder where labels.json should be");
        Assert.ThrowsAny<IOException>(() => OnnxExport.Export(other, RealModelCache.Checkpoint, _f.Labels, dir));
        Assert.Equal(hash, Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(model))));
        Assert.Equal(new[] { "labels.json", "model.onnx", "vocab.txt" }, Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        // Unblocked, the same export goes through and replaces the model.
        Directory.Delete(labels, recursive: true);
        OnnxExport.Export(other, RealModelCache.Checkpoint, _f.Labels, dir);
        Assert.NotEqual(hash, Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(model))));
    }

    [Fact]
    public void A_folder_that_mixes_files_of_two_exports_is_refused_at_load()
    {
        // Two exports of different label files; a crash between an export's renames could leave the second's labels.json
        // beside the first's model.onnx. The model records its companions' SHA-256, so the mix is refused by name.
        var first = NewDir();
        var second = NewDir();
        OnnxExport.ExportFolder(_f.Adapters, RealModelCache.Checkpoint, first);
        OnnxExport.Export(_f.Model, RealModelCache.Checkpoint, _f.Labels with { Labels = new[] { "legit", "junk" }, MaxTokens = 32 }, second);
        using (var whole = OnnxTextClassifier.Load(second)) Assert.Equal(new[] { "legit", "junk" }, whole.Labels);

        var mixed = NewDir();
        Directory.CreateDirectory(mixed);
        foreach (var file in new[] { OnnxTextClassifier.ModelFile, OnnxTextClassifier.VocabularyFile }) File.Copy(Path.Combine(first, file), Path.Combine(mixed, file));
        File.Copy(Path.Combine(second, OnnxTextClassifier.LabelsFile), Path.Combine(mixed, OnnxTextClassifier.LabelsFile));
        var refused = Assert.Throws<InvalidDataException>(() => OnnxTextClassifier.Load(mixed));
        Assert.Contains($"{Path.Combine(mixed, "labels.json")} is not the labels.json that model.onnx was exported with", refused.Message);
        Assert.Contains("export-onnx", refused.Message);

        // The same for the vocabulary, and through the command a user runs.
        File.Copy(Path.Combine(first, OnnxTextClassifier.LabelsFile), Path.Combine(mixed, OnnxTextClassifier.LabelsFile), overwrite: true);
        File.AppendAllText(Path.Combine(mixed, OnnxTextClassifier.VocabularyFile), "[extra]\n");
        refused = Assert.Throws<InvalidDataException>(() => OnnxTextClassifier.Load(mixed));
        Assert.Contains("is not the vocab.txt that model.onnx was exported with", refused.Message);
        var (code, console, _) = Run(new[] { "predict-onnx", "--model", mixed }, "hello\n");
        Assert.NotEqual(0, code);
        Assert.Contains("is not the vocab.txt that model.onnx was exported with", Flat(console));

        // Put back, the folder loads.
        File.Copy(Path.Combine(first, OnnxTextClassifier.VocabularyFile), Path.Combine(mixed, OnnxTextClassifier.VocabularyFile), overwrite: true);
        using var restored = OnnxTextClassifier.Load(mixed);
        Assert.Equal(new[] { "ham", "spam" }, restored.Labels);
    }

    [Fact]
    public void Export_onnx_refuses_a_bad_adapters_folder_with_the_reason()
    {
        var empty = NewDir();
        Directory.CreateDirectory(empty);
        var outDir = NewDir();
        var none = Run(new[] { "export-onnx", "--adapters", empty, "--out", outDir, "--cache", RealModelCache.Root });
        Assert.Equal(1, none.Code);
        Assert.Contains("labels.json does not exist", Flat(none.Console));
        Assert.Contains("is not a classifier folder written by the `train` command", Flat(none.Console));
        Assert.False(Directory.Exists(outDir));

        // Adapters saved for two classes, labels.json naming three: the head does not load, and the error says so.
        var mismatched = NewDir();
        foreach (var file in Directory.GetFiles(_f.Adapters)) { Directory.CreateDirectory(mismatched); File.Copy(file, Path.Combine(mismatched, Path.GetFileName(file))); }
        var json = File.ReadAllText(Path.Combine(mismatched, LabelSet.FileName)).Replace("\"spam\"", "\"spam\", \"phishing\"", StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(mismatched, LabelSet.FileName), json);
        var wrong = Run(new[] { "export-onnx", "--adapters", mismatched, "--out", outDir, "--cache", RealModelCache.Root });
        Assert.Equal(1, wrong.Code);
        Assert.Contains($"Cannot export {mismatched}", Flat(wrong.Console));
        Assert.Contains("classifier.weight", Flat(wrong.Console));
        Assert.False(Directory.Exists(outDir));

        var help = Run(new[] { "export-onnx", "--help" });
        foreach (var option in new[] { "--adapters", "--out", "--check", "--cache" }) Assert.Contains(option, help.Console);
    }

    /// <summary>What the issue asks of the export, on the whole SpamAssassin test split: ONNX Runtime's logits within 1e-4 of TorchSharp's, every prediction the same.</summary>
    [Fact]
    public void Export_onnx_check_agrees_with_TorchSharp_on_the_whole_test_split()
    {
        var run = Run(new[] { "export-onnx", "--adapters", _f.Adapters, "--out", NewDir(), "--cache", RealModelCache.Root, "--check" });

        var text = Flat(run.Console);
        Assert.True(run.Code == 0, text);
        var m = System.Text.RegularExpressions.Regex.Match(text, @"test split \(([\d,]+) e-mails.*?max \|logit difference\| ([0-9.]+e[+-]?\d+) .*?predictions agree on ([\d,]+) of ([\d,]+)");
        Assert.True(m.Success, text);
        int Count(int group) => int.Parse(m.Groups[group].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
        Assert.True(Count(1) > 800, text);   // the whole split (886 e-mails), not a sample
        Assert.InRange(double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture), 0, OnnxExport.Tolerance);
        Assert.Equal(Count(1), Count(3));
        Assert.Equal(Count(1), Count(4));
        _output.WriteLine(text);
    }

    [Fact]
    public void Predict_onnx_labels_texts_as_predict_does_with_ONNX_Runtime_only()
    {
        var dir = NewDir();
        var export = Run(new[] { "export-onnx", "--adapters", _f.Adapters, "--out", dir, "--cache", RealModelCache.Root });
        Assert.True(export.Code == 0, export.Console);
        Assert.Contains("101 encoder weights merged", Flat(export.Console));

        var input = Path.Combine(_f.Root, Guid.NewGuid().ToString("N") + ".txt");
        File.WriteAllLines(input, _f.Emails.Select(e => string.Join(' ', e.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))));
        var torch = Run(new[] { "predict", "--adapters", _f.Adapters, "--input", input, "--cache", RealModelCache.Root });
        var onnx = Run(new[] { "predict-onnx", "--model", dir, "--input", input });
        Assert.True(torch.Code == 0, torch.Console);
        Assert.True(onnx.Code == 0, onnx.Console);
        var expected = torch.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).ToList();
        var actual = onnx.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')).ToList();
        Assert.Equal(_f.Emails.Length, actual.Count);
        Assert.Equal(expected.Select(p => p[0]), actual.Select(p => p[0]));   // labels
        Assert.Equal(expected.Select(p => p[2]), actual.Select(p => p[2]));   // text excerpts
        Assert.All(expected.Zip(actual), p => Assert.InRange(Math.Abs(double.Parse(p.First[1], CultureInfo.InvariantCulture) - double.Parse(p.Second[1], CultureInfo.InvariantCulture)), 0, 0.0011));
        Assert.Contains(actual, p => p[0] == "spam");
        Assert.Contains(actual, p => p[0] == "ham");

        // The TorchSharp-free app prints the same lines.
        var app = new StringWriter();
        var errors = new StringWriter();
        Assert.Equal(0, global::OnnxSpamFilter.Program.Run(new[] { "--model", dir, "--input", input }, new StringReader(""), app, errors));
        Assert.Equal(onnx.Output, app.ToString());
        Assert.Equal(2, global::OnnxSpamFilter.Program.Run(new[] { "--modle", dir }, new StringReader(""), new StringWriter(), errors));
        Assert.Contains("Unknown argument '--modle'", errors.ToString());
        Assert.Equal(1, global::OnnxSpamFilter.Program.Run(new[] { "--model", _f.Adapters }, new StringReader("hello"), new StringWriter(), errors));
        Assert.Contains("model.onnx does not exist", errors.ToString());

        // Lines on standard input, as predict reads them.
        var piped = Run(new[] { "predict-onnx", "--model", dir }, string.Join("\n", File.ReadLines(input).Take(3)));
        Assert.True(piped.Code == 0, piped.Console);
        Assert.Equal(actual.Take(3).Select(p => string.Join('\t', p)), piped.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        // A folder that is not an export is refused with what is missing and how to make one.
        var missing = Run(new[] { "predict-onnx", "--model", _f.Adapters }, "hello");
        Assert.Equal(1, missing.Code);
        Assert.Contains("model.onnx does not exist", Flat(missing.Console));
        Assert.Contains("export-onnx", Flat(missing.Console));

        var help = Run(new[] { "predict-onnx", "--help" });
        foreach (var option in new[] { "--model", "--input", "--text-column", "--batch", "--threads" }) Assert.Contains(option, help.Console);
    }

    [Fact]
    public void The_ONNX_Runtime_classifier_needs_no_TorchSharp_SingLoRA_or_the_MiniLM_package()
    {
        var references = typeof(OnnxTextClassifier).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.Contains("Microsoft.ML.OnnxRuntime", references);
        Assert.DoesNotContain(references, r => r.StartsWith("TorchSharp", StringComparison.Ordinal) || r.StartsWith("SingLoRA", StringComparison.Ordinal) || r.StartsWith("SentenceTransformers", StringComparison.Ordinal));
        // An exported folder tokenises real e-mails exactly as training did (the TorchSharp side's BertWordPiece on the package's vocabulary).
        var dir = NewDir();
        OnnxExport.ExportFolder(_f.Adapters, RealModelCache.Checkpoint, dir);
        using var onnx = OnnxTextClassifier.Load(dir);
        var training = BertWordPiece.FromPackage();
        foreach (var text in _f.Emails)
            Assert.Equal(training.Encode(text, 128), onnx.Tokenizer.Encode(text, 128));
    }
}
