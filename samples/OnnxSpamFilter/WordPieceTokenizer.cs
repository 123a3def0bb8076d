using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FastBertTokenizer;

namespace OnnxSpamFilter;

/// <summary>
/// The uncased WordPiece tokenisation of all-MiniLM-L6-v2: FastBertTokenizer (which follows Hugging Face's BertTokenizer:
/// lower case, accents stripped, punctuation and symbols split, CJK characters split) with a <c>vocab.txt</c>,
/// <c>[CLS] ... [SEP]</c> around each text, truncation that keeps the first word pieces and ends with <c>[SEP]</c>, and
/// padding with <c>[PAD]</c> (id 0). The one implementation: the TorchSharp sample (<c>SpamFilter.MiniLM.BertWordPiece</c>)
/// and the ONNX Runtime classifier both call it, so training and shipping tokenise alike.
/// </summary>
public sealed class WordPieceTokenizer
{
    private readonly BertTokenizer _tokenizer;

    private WordPieceTokenizer(BertTokenizer tokenizer, long cls, long sep)
    {
        _tokenizer = tokenizer;
        Cls = cls;
        Sep = sep;
    }

    /// <summary>The id of <c>[CLS]</c>, first in every sequence.</summary>
    public long Cls { get; }

    /// <summary>The id of <c>[SEP]</c>, last in every sequence.</summary>
    public long Sep { get; }

    /// <summary>The padding id (<c>[PAD]</c>, 0 in BERT vocabularies).</summary>
    public const long PadId = 0;

    /// <summary>Reads a WordPiece vocabulary (<c>vocab.txt</c>: one token per line, the line number is the id).</summary>
    /// <exception cref="InvalidDataException">The vocabulary has no <c>[CLS]</c>, <c>[SEP]</c> or <c>[PAD]</c> (at id 0).</exception>
    public static WordPieceTokenizer FromVocabulary(TextReader vocabulary, string name)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        var vocab = vocabulary.ReadToEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        int cls = vocab.IndexOf("[CLS]"), sep = vocab.IndexOf("[SEP]");
        if (cls < 0 || sep < 0 || vocab[0] != "[PAD]")
            throw new InvalidDataException($"{name} is not a BERT WordPiece vocabulary: it needs [PAD] on its first line and [CLS] and [SEP] lines (found {vocab.Count} lines, first '{vocab[0]}').");
        var tokenizer = new BertTokenizer();
        using (var text = new StringReader(string.Join('\n', vocab))) tokenizer.LoadVocabulary(text, convertInputToLowercase: true);
        return new WordPieceTokenizer(tokenizer, cls, sep);
    }

    /// <summary>Reads the vocabulary file at <paramref name="path"/> (see <see cref="FromVocabulary(TextReader, string)"/>).</summary>
    public static WordPieceTokenizer FromFile(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"The WordPiece vocabulary {path} does not exist.", path);
        using var reader = new StreamReader(path);
        return FromVocabulary(reader, path);
    }

    /// <summary>
    /// The ids of <paramref name="text"/> with <c>[CLS]</c> and <c>[SEP]</c>, truncated to <paramref name="maxTokens"/> ids in all
    /// (the first word pieces are kept, as Hugging Face's truncation does, and <c>[SEP]</c> stays last).
    /// </summary>
    public long[] Encode(string text, int maxTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (maxTokens < 3) throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens, "At least 3 tokens: [CLS], one word piece, [SEP].");
        // A budget no text can exceed (each character gives at most one word piece), so the library never truncates; we do.
        var (ids, mask, _) = _tokenizer.Encode(text, maximumTokens: text.Length + 2);
        var all = ids.Span[..CountOnes(mask.Span)];
        if (all.Length <= maxTokens) return all.ToArray();
        var result = all[..maxTokens].ToArray();
        result[^1] = Sep;
        return result;
    }

    private static int CountOnes(ReadOnlySpan<long> mask)
    {
        int n = 0;
        foreach (var m in mask) if (m == 1) n++;
        return n;
    }

    /// <summary>
    /// Pads <paramref name="sequences"/> (from <see cref="Encode"/>) with <c>[PAD]</c> to the longest: row-major
    /// <c>input_ids</c> and <c>attention_mask</c> of shape <c>[sequences, Length]</c>.
    /// </summary>
    /// <exception cref="ArgumentException">A sequence is empty or does not start with <c>[CLS]</c>.</exception>
    public (long[] Ids, long[] Mask, int Length) Pad(IReadOnlyList<long[]> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (sequences.Count == 0) throw new ArgumentException("No sequences to pad.", nameof(sequences));
        int length = sequences.Max(s => s.Length);
        var ids = new long[sequences.Count * length];
        var mask = new long[sequences.Count * length];
        for (int b = 0; b < sequences.Count; b++)
        {
            if (sequences[b].Length == 0 || sequences[b][0] != Cls) throw new ArgumentException($"Sequence {b} does not start with [CLS]; encode texts with Encode().", nameof(sequences));
            for (int i = 0; i < sequences[b].Length; i++)
            {
                ids[b * length + i] = sequences[b][i];
                mask[b * length + i] = 1;
            }
        }
        return (ids, mask, length);
    }
}
