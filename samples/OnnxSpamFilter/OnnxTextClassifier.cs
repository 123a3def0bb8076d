using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace OnnxSpamFilter;

/// <summary>One text's prediction: the class with the highest logit, its softmax probability, and every logit (in label order).</summary>
/// <param name="Class">The index of the predicted class in <see cref="OnnxTextClassifier.Labels"/>.</param>
/// <param name="Label">Its name.</param>
/// <param name="Probability">Its softmax probability.</param>
/// <param name="Logits">The model's logits, one per label.</param>
public sealed record TextPrediction(int Class, string Label, float Probability, float[] Logits);

/// <summary>
/// A text classifier folder written by <c>SpamFilter export-onnx</c>, run by ONNX Runtime alone: <c>model.onnx</c>
/// (<c>input_ids</c>, <c>attention_mask</c>, <c>token_type_ids</c> <c>[batch, sequence]</c> int64 to <c>logits</c>
/// <c>[batch, classes]</c>), <c>vocab.txt</c> (the WordPiece vocabulary) and <c>labels.json</c> (the class names in logit order
/// and the tokens per text).
/// </summary>
public sealed class OnnxTextClassifier : IDisposable
{
    /// <summary>The model file's name inside the folder.</summary>
    public const string ModelFile = "model.onnx";

    /// <summary>The vocabulary file's name inside the folder.</summary>
    public const string VocabularyFile = "vocab.txt";

    /// <summary>The label file's name inside the folder (the format <c>train</c> writes).</summary>
    public const string LabelsFile = "labels.json";

    /// <summary>The graph's output the classifier reads.</summary>
    public const string LogitsOutput = "logits";

    /// <summary>
    /// The model's metadata keys that record the SHA-256 (lower-case hex) of the companion files it was exported with
    /// (<c>"labels.json.sha256"</c>, <c>"vocab.txt.sha256"</c>). An export replaces three files one by one, so a crash between
    /// two renames could pair files of two exports; with these the pair is refused at load instead of mislabelling texts.
    /// </summary>
    public static string DigestKey(string file) => file + ".sha256";

    /// <summary>The SHA-256 of <paramref name="bytes"/>, lower-case hex (the value of a <see cref="DigestKey"/> entry).</summary>
    public static string Digest(byte[] bytes) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));

    private readonly InferenceSession _session;
    private readonly bool _needsTokenTypes;

    private OnnxTextClassifier(InferenceSession session, WordPieceTokenizer tokenizer, IReadOnlyList<string> labels, int maxTokens)
    {
        _session = session;
        Tokenizer = tokenizer;
        Labels = labels;
        MaxTokens = maxTokens;
        _needsTokenTypes = session.InputMetadata.ContainsKey("token_type_ids");
    }

    /// <summary>The class names, in logit order.</summary>
    public IReadOnlyList<string> Labels { get; }

    /// <summary>Tokens per text, <c>[CLS]</c> and <c>[SEP]</c> included: longer texts are cut, as in training.</summary>
    public int MaxTokens { get; }

    /// <summary>The tokenizer, with the folder's vocabulary.</summary>
    public WordPieceTokenizer Tokenizer { get; }

    /// <summary>Loads the classifier folder <paramref name="folder"/>; <paramref name="options"/> tune ONNX Runtime (threads, providers).</summary>
    /// <exception cref="InvalidDataException">A file is missing or does not fit the others; the message names it and says how to get a good folder.</exception>
    public static OnnxTextClassifier Load(string folder, SessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        const string Fix = "Write the folder with `SpamFilter export-onnx --adapters <the folder train wrote> --out <folder>`.";
        foreach (var file in new[] { ModelFile, VocabularyFile, LabelsFile })
            if (!File.Exists(Path.Combine(folder, file)))
                throw new InvalidDataException($"{Path.Combine(folder, file)} does not exist: {folder} is not an ONNX classifier folder (model.onnx, vocab.txt, labels.json). {Fix}");
        var (labels, maxTokens) = ReadLabels(Path.Combine(folder, LabelsFile));
        var tokenizer = WordPieceTokenizer.FromFile(Path.Combine(folder, VocabularyFile));
        InferenceSession session;
        try { session = options is null ? new InferenceSession(Path.Combine(folder, ModelFile)) : new InferenceSession(Path.Combine(folder, ModelFile), options); }
        catch (OnnxRuntimeException e) { throw new InvalidDataException($"ONNX Runtime cannot load {Path.Combine(folder, ModelFile)}: {e.Message} {Fix}", e); }
        try
        {
            var missing = new[] { "input_ids", "attention_mask" }.Where(n => !session.InputMetadata.ContainsKey(n)).ToList();
            if (missing.Count > 0 || !session.OutputMetadata.TryGetValue(LogitsOutput, out var logits))
                throw new InvalidDataException($"{Path.Combine(folder, ModelFile)} has inputs [{string.Join(", ", session.InputMetadata.Keys)}] and outputs [{string.Join(", ", session.OutputMetadata.Keys)}]; a classifier needs inputs input_ids and attention_mask and an output '{LogitsOutput}'. {Fix}");
            // Files of two exports (an export-onnx stopped between its renames): refuse them rather than mislabel texts.
            // A model without the entries (written by another tool) is taken on the checks below alone.
            var recorded = session.ModelMetadata.CustomMetadataMap;
            foreach (var file in new[] { LabelsFile, VocabularyFile })
                if (recorded.TryGetValue(DigestKey(file), out var digest) && digest != Digest(File.ReadAllBytes(Path.Combine(folder, file))))
                    throw new InvalidDataException($"{Path.Combine(folder, file)} is not the {file} that {ModelFile} was exported with (its SHA-256 differs from the one the model records): the folder mixes files of two exports, as an interrupted export leaves it. {Fix}");
            long classes = logits.Dimensions.Length == 2 ? logits.Dimensions[1] : -1;
            if (classes != labels.Count)
                throw new InvalidDataException($"{Path.Combine(folder, ModelFile)} outputs {classes} logits per text but {LabelsFile} names {labels.Count} labels ({string.Join(", ", labels)}); the files come from different exports. {Fix}");
            return new OnnxTextClassifier(session, tokenizer, labels, maxTokens);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    private sealed record LabelsJson
    {
        public List<string>? Labels { get; init; }

        public int MaxTokens { get; init; }
    }

    private static (IReadOnlyList<string> Labels, int MaxTokens) ReadLabels(string path)
    {
        LabelsJson? json;
        try { json = JsonSerializer.Deserialize<LabelsJson>(File.ReadAllText(path), new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }); }
        catch (JsonException e) { throw new InvalidDataException($"{path} is not a valid label file ({e.Message}).", e); }
        if (json?.Labels is not { Count: >= 2 } labels || json.MaxTokens < 3)
            throw new InvalidDataException($"{path} needs \"labels\" (two or more class names, in logit order) and \"max_tokens\" (3 or more).");
        return (labels, json.MaxTokens);
    }

    /// <summary>The predictions for <paramref name="texts"/>, <paramref name="batch"/> texts per ONNX Runtime call (each batch padded to its longest text).</summary>
    public IReadOnlyList<TextPrediction> Predict(IReadOnlyList<string> texts, int batch = 32)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        var result = new List<TextPrediction>(texts.Count);
        for (int start = 0; start < texts.Count; start += batch)
        {
            var tokens = texts.Skip(start).Take(batch).Select(t => Tokenizer.Encode(t, MaxTokens)).ToList();
            var logits = Logits(tokens);
            int classes = Labels.Count;
            for (int i = 0; i < tokens.Count; i++)
            {
                var row = logits.AsSpan(i * classes, classes).ToArray();
                int best = 0;
                for (int c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
                double sum = row.Sum(x => Math.Exp(x - row[best]));
                result.Add(new TextPrediction(best, Labels[best], (float)(1 / sum), row));
            }
        }
        return result;
    }

    /// <summary>The logits <c>[sequences, classes]</c> (row-major) of token sequences from <see cref="WordPieceTokenizer.Encode"/>, in one ONNX Runtime call.</summary>
    public float[] Logits(IReadOnlyList<long[]> tokens)
    {
        var (ids, mask, length) = Tokenizer.Pad(tokens);
        var shape = new[] { tokens.Count, length };
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, shape)),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(mask, shape)),
        };
        if (_needsTokenTypes) inputs.Add(NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(new long[ids.Length], shape)));
        using var outputs = _session.Run(inputs, new[] { LogitsOutput });
        return outputs.Single().AsTensor<float>().ToArray();
    }

    /// <summary>Releases the ONNX Runtime session.</summary>
    public void Dispose() => _session.Dispose();
}

/// <summary>The input and output forms the classifiers share: texts one per line, predictions as <c>label TAB probability TAB text start</c>.</summary>
public static class PredictionText
{
    /// <summary>The non-blank lines of <paramref name="reader"/> (a byte-order mark on the first one dropped): one text each.</summary>
    public static IReadOnlyList<string> ReadLines(TextReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            if (lines.Count == 0) line = line.TrimStart('\uFEFF');
            if (!string.IsNullOrWhiteSpace(line)) lines.Add(line);
        }
        return lines;
    }

    /// <summary>One output line: the label, the probability with three decimals, and the text's first 80 characters on one line, tab-separated.</summary>
    public static string Line(string label, float probability, string text) =>
        $"{label}\t{probability.ToString("0.000", CultureInfo.InvariantCulture)}\t{Excerpt(text)}";

    private static string Excerpt(string text)
    {
        var flat = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return flat.Length <= 80 ? flat : flat[..77] + "...";
    }
}
