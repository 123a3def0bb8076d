using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using SingLoRA;
using SingLoRA.AdapterFiles;
using SpamFilter.Data;
using SpamFilter.MiniLM;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SpamFilter;

/// <summary>The e-mails of one experiment, tokenised once: a training subset and the test set.</summary>
public sealed class Corpus
{
    public Corpus(IReadOnlyList<Email> train, IReadOnlyList<Email> test, BertWordPiece tokenizer, int maxTokens)
    {
        Train = train;
        Test = test;
        Tokenizer = tokenizer;
        MaxTokens = maxTokens;
        TrainTokens = train.Select(e => tokenizer.Encode(e.Text, maxTokens)).ToArray();
        TestTokens = test.Select(e => tokenizer.Encode(e.Text, maxTokens)).ToArray();
    }

    public IReadOnlyList<Email> Train { get; }
    public IReadOnlyList<Email> Test { get; }
    public BertWordPiece Tokenizer { get; }
    public int MaxTokens { get; }
    public long[][] TrainTokens { get; }
    public long[][] TestTokens { get; }

    /// <summary>
    /// Takes <paramref name="trainCount"/> training e-mails (0: all) and <paramref name="testCount"/> test e-mails (0: all) in a
    /// fixed order (<see cref="Email.OrderKey"/>), the same for every method and seed.
    /// </summary>
    public static Corpus Select(IReadOnlyList<Email> all, int trainCount, int testCount, BertWordPiece tokenizer, int maxTokens)
    {
        IReadOnlyList<Email> Take(Split split, int count)
        {
            var part = all.Where(e => e.Split == split).OrderBy(e => e.OrderKey, StringComparer.Ordinal).ToList();
            return count <= 0 || count >= part.Count ? part : part.Take(count).ToList();
        }
        return new Corpus(Take(Split.Train, trainCount), Take(Split.Test, testCount), tokenizer, maxTokens);
    }
}

/// <summary>Test-set metrics: accuracy, F1 of the spam class, and accuracy on the hard-ham e-mails.</summary>
public readonly record struct Metrics(double Accuracy, double SpamF1, double HardHamAccuracy, int HardHam, int Count)
{
    public static Metrics Of(IReadOnlyList<Email> emails, IReadOnlyList<bool> predictedSpam)
    {
        int tp = 0, fp = 0, fn = 0, correct = 0, hard = 0, hardCorrect = 0;
        for (int i = 0; i < emails.Count; i++)
        {
            bool p = predictedSpam[i], y = emails[i].IsSpam;
            if (p == y) correct++;
            if (p && y) tp++;
            if (p && !y) fp++;
            if (!p && y) fn++;
            if (emails[i].IsHardHam) { hard++; if (!p) hardCorrect++; }
        }
        double f1 = tp == 0 ? 0 : 2.0 * tp / (2.0 * tp + fp + fn);
        return new Metrics((double)correct / emails.Count, f1, hard == 0 ? double.NaN : (double)hardCorrect / hard, hard, emails.Count);
    }
}

/// <summary>One fine-tuning run.</summary>
public sealed record RunResult(Method Method, double Lr, long Seed, long Trainable, Metrics Test, float[] Losses, double Seconds)
{
    /// <summary>True when a training loss became NaN or infinite (the run diverged).</summary>
    public bool Diverged => Losses.Any(l => !float.IsFinite(l));

    /// <summary>Where the adapters and head were saved and how the reloaded model compared, when asked to save.</summary>
    public SavedAdapters? Saved { get; init; }
}

/// <summary>An adapter folder written after training, its size, and the largest logit difference of the model reloaded from it.</summary>
public sealed record SavedAdapters(string Directory, long Bytes, double ReloadDifference);

/// <summary>The training settings shared by every method of a comparison.</summary>
public sealed record TrainSettings(int Steps, int Batch, double HeadLr, int EvalBatch = 32, int LogEvery = 10);

/// <summary>Trains and evaluates one method.</summary>
public static class FineTuning
{
    /// <summary>
    /// Builds <paramref name="method"/>'s classifier from the checkpoint and trains it for <see cref="TrainSettings.Steps"/> AdamW steps:
    /// the encoder side (adapters, or every encoder weight for full fine-tuning) at <paramref name="lr"/>, the head at
    /// <see cref="TrainSettings.HeadLr"/>. Head-only trains the head on the frozen encoder's pooled features (computed once).
    /// </summary>
    public static RunResult Run(Method method, double lr, long seed, AdapterSettings adapters, string checkpoint, Corpus corpus, TrainSettings settings, Device device,
        Action<int, double>? onLog = null, FeatureCache? features = null, string? saveAdaptersTo = null)
    {
        var watch = Stopwatch.StartNew();
        manual_seed(seed);
        var (model, encoderParams, head) = adapters.Build(method, checkpoint);
        using var _ = model;
        model.to(device);
        long trainable = encoderParams.Concat(head).Sum(p => p.numel());
        var groups = new List<AdamW.ParamGroup> { new(head, lr: settings.HeadLr) };
        if (encoderParams.Count > 0) groups.Add(new AdamW.ParamGroup(encoderParams, lr: lr));
        using var optimizer = optim.AdamW(groups, lr: settings.HeadLr);
        using var order = new BatchOrder(corpus.Train.Count, settings.Batch, seed);
        using var labels = tensor(corpus.Train.Select(e => e.IsSpam ? 1L : 0L).ToArray());

        float[] losses;
        IReadOnlyList<bool> predictions;
        if (method == Method.HeadOnly)
        {
            features ??= new FeatureCache();
            var (trainX, testX) = features.Get(model.Encoder, corpus, settings.EvalBatch, device);
            losses = Loop(model, optimizer, settings, device, onLog, model.Classifier.train, idx => model.Classifier.forward(trainX.index(idx.to(device))), order, labels);
            model.eval();
            using (no_grad())
            using (var logits = model.Classifier.forward(testX))
            using (var predicted = logits.argmax(-1).cpu())
                predictions = predicted.data<long>().Select(v => v == 1).ToList();
        }
        else
        {
            losses = Loop(model, optimizer, settings, device, onLog, model.train, idx =>
            {
                var (ids, mask) = corpus.Tokenizer.Batch(idx.data<long>().Select(i => corpus.TrainTokens[i]).ToList(), device);
                return model.forward(ids, mask);
            }, order, labels, afterStep: model.AdvanceRamp);
            predictions = Predict(model, corpus.TestTokens, corpus.Tokenizer, settings.EvalBatch, device);
        }
        var result = new RunResult(method, method == Method.HeadOnly ? double.NaN : lr, seed, trainable, Metrics.Of(corpus.Test, predictions), losses, watch.Elapsed.TotalSeconds);
        if (saveAdaptersTo is not null && method is not (Method.HeadOnly or Method.Full))
            result = result with { Saved = SaveAndReload(model, method, adapters, checkpoint, corpus, device, saveAdaptersTo) };
        return result;
    }

    /// <summary>
    /// Saves the adapters and the head trained with them (<c>modulesToSave: ["classifier"]</c>: without it SaveAdapters
    /// refuses, since the head requires gradients), loads both into a freshly built classifier, and compares the logits
    /// of the first test e-mails.
    /// </summary>
    private static SavedAdapters SaveAndReload(SpamClassifier model, Method method, AdapterSettings adapters, string checkpoint, Corpus corpus, Device device, string directory)
    {
        model.SaveAdapters(directory, modulesToSave: new[] { "classifier" });
        var (fresh, _, _) = adapters.Build(method, checkpoint);
        using var _ = fresh;
        fresh.to(device);
        fresh.LoadAdapters(directory);
        model.eval();
        fresh.eval();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (ids, mask) = corpus.Tokenizer.Batch(corpus.TestTokens.Take(16).ToList(), device);
        double diff = (model.forward(ids, mask) - fresh.forward(ids, mask)).abs().max().item<float>();
        long bytes = new DirectoryInfo(directory).GetFiles().Sum(f => f.Length);
        return new SavedAdapters(directory, bytes, diff);
    }

    private static float[] Loop(nn.Module model, optim.Optimizer optimizer, TrainSettings settings, Device device, Action<int, double>? onLog,
        Action<bool> train, Func<Tensor, Tensor> logitsOf, BatchOrder order, Tensor labels, Action? afterStep = null)
    {
        train(true);
        // Losses stay on the device; they are read every LogEvery steps (progress) and once at the end.
        using var losses = zeros(Math.Max(settings.Steps, 1), device: device);
        int windowStart = 0;
        for (int step = 0; step < settings.Steps; step++)
        {
            using (var scope = NewDisposeScope())
            {
                var idx = order.Next();
                var loss = nn.functional.cross_entropy(logitsOf(idx), labels.index(idx).to(device));
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                afterStep?.Invoke();
                losses[step].copy_(loss.detach());
            }
            if (onLog is not null && ((step + 1) % settings.LogEvery == 0 || step + 1 == settings.Steps))
            {
                using var window = losses.narrow(0, windowStart, step + 1 - windowStart).mean();
                onLog(step + 1, window.item<float>());
                windowStart = step + 1;
            }
        }
        using var host = losses.narrow(0, 0, settings.Steps).cpu();
        return host.data<float>().ToArray();
    }

    /// <summary>Spam / ham predictions for token sequences, in evaluation mode without gradients.</summary>
    public static IReadOnlyList<bool> Predict(SpamClassifier model, IReadOnlyList<long[]> tokens, BertWordPiece tokenizer, int batch, Device device)
    {
        model.eval();
        var result = new List<bool>(tokens.Count);
        using var _ = no_grad();
        for (int start = 0; start < tokens.Count; start += batch)
        {
            using var scope = NewDisposeScope();
            var (ids, mask) = tokenizer.Batch(tokens.Skip(start).Take(batch).ToList(), device);
            var predicted = model.forward(ids, mask).argmax(-1).cpu();
            result.AddRange(predicted.data<long>().Select(v => v == 1));
        }
        return result;
    }
}

/// <summary>Shuffled mini-batches of training indices: a new permutation (from the run's seed) every epoch.</summary>
public sealed class BatchOrder : IDisposable
{
    private readonly int _count, _batch;
    private readonly Generator _generator;
    private long[] _order = Array.Empty<long>();
    private int _position;

    public BatchOrder(int count, int batch, long seed)
    {
        if (count < 1) throw new ArgumentException("There are no training e-mails.");
        _count = count;
        _batch = Math.Min(batch, count);
        _generator = new Generator((ulong)seed + 17);
    }

    /// <summary>The next batch's indices (CPU, int64).</summary>
    public Tensor Next()
    {
        if (_position + _batch > _order.Length)
        {
            using var perm = randperm(_count, generator: _generator);
            _order = perm.data<long>().ToArray();
            _position = 0;
        }
        var idx = tensor(_order.AsSpan(_position, _batch).ToArray());
        _position += _batch;
        return idx;
    }

    public void Dispose() => _generator.Dispose();
}

/// <summary>The frozen pretrained encoder's pooled features of a corpus (for head-only training), computed once and reused across seeds.</summary>
public sealed class FeatureCache : IDisposable
{
    private (Corpus Corpus, Tensor Train, Tensor Test)? _cached;

    public (Tensor Train, Tensor Test) Get(BertModel encoder, Corpus corpus, int batch, Device device)
    {
        if (_cached is { } c && ReferenceEquals(c.Corpus, corpus)) return (c.Train, c.Test);
        Dispose();
        encoder.eval();
        var train = Pool(encoder, corpus.TrainTokens, corpus.Tokenizer, batch, device);
        var test = Pool(encoder, corpus.TestTokens, corpus.Tokenizer, batch, device);
        _cached = (corpus, train, test);
        return (train, test);
    }

    private static Tensor Pool(BertModel encoder, IReadOnlyList<long[]> tokens, BertWordPiece tokenizer, int batch, Device device)
    {
        using var _ = no_grad();
        var parts = new List<Tensor>();
        for (int start = 0; start < tokens.Count; start += batch)
        {
            using var scope = NewDisposeScope();
            var (ids, mask) = tokenizer.Batch(tokens.Skip(start).Take(batch).ToList(), device);
            parts.Add(BertModel.MeanPool(encoder.forward(ids, mask), mask).MoveToOuterDisposeScope());
        }
        var all = cat(parts, 0);
        foreach (var p in parts) p.Dispose();
        return all.DetachFromDisposeScope();
    }

    public void Dispose()
    {
        if (_cached is { } c) { c.Train.Dispose(); c.Test.Dispose(); }
        _cached = null;
    }
}
