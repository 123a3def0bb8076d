using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;
using SingLoRA;
using SingLoRA.AdapterFiles;
using SpamFilter.Data;
using SpamFilter.MiniLM;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SpamFilter;

/// <summary>
/// The label set saved next to a classifier's adapters (<c>labels.json</c>): the classes in head order, how texts were
/// tokenised, and the SHA-256 of the adapter tensors it belongs to (so a labels.json from another save is caught).
/// </summary>
public sealed record LabelSet
{
    /// <summary>The file's name inside the adapter folder.</summary>
    public const string FileName = "labels.json";

    /// <summary>The classes; class i is row i of the head.</summary>
    public IReadOnlyList<string> Labels { get; init; } = Array.Empty<string>();

    /// <summary>Tokens per text, [CLS] and [SEP] included.</summary>
    public int MaxTokens { get; init; }

    /// <summary>The pretrained model the adapters belong to.</summary>
    public string Model { get; init; } = "all-MiniLM-L6-v2";

    /// <summary>The data the adapters were trained on (for people).</summary>
    public string Data { get; init; } = "";

    /// <summary>The optimizer step of this checkpoint, and its validation accuracy.</summary>
    public int Step { get; init; }

    public double ValidationAccuracy { get; init; }

    /// <summary>SHA-256 of <c>adapter_model.safetensors</c>, as its <c>adapter_config.json</c> records it.</summary>
    public string WeightsSha256 { get; init; } = "";

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    /// <summary>Writes <c>directory/labels.json</c>.</summary>
    public void Write(string directory) => File.WriteAllText(Path.Combine(directory, FileName), ToJson());

    /// <summary>The file's text.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads <c>directory/labels.json</c> and checks that it belongs to the adapters beside it.</summary>
    /// <exception cref="InvalidOperationException">It is missing, unreadable, or from another save; the message says which.</exception>
    public static LabelSet Read(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            throw new InvalidOperationException($"{path} does not exist: {directory} is not a classifier folder written by the `train` command (it saves the adapters, the head and labels.json together).");
        LabelSet? set;
        try { set = JsonSerializer.Deserialize<LabelSet>(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw new InvalidOperationException($"{path} is not a valid label file ({e.Message}).", e); }
        if (set is null || set.Labels.Count < 2 || set.MaxTokens < 3)
            throw new InvalidOperationException($"{path} lists fewer than two labels or no max_tokens; it was not written by the `train` command.");
        var config = AdapterFile.ReadConfig(directory);
        if (!string.Equals(config.WeightsSha256, set.WeightsSha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException(
                $"{path} belongs to another save: it was written for adapter tensors with SHA-256 {set.WeightsSha256}, but {AdapterFile.ConfigFileName} in {directory} records {config.WeightsSha256}. " +
                "Keep the folder the `train` command wrote together (copy it whole).");
        return set;
    }
}

/// <summary>Per-class precision, recall and F1 on a labelled set, with its confusion matrix (rows: true class, columns: predicted).</summary>
public sealed record ClassReport(IReadOnlyList<string> Labels, int[,] Confusion)
{
    public int Count { get { int n = 0; foreach (var c in Confusion) n += c; return n; } }

    public double Accuracy => Count == 0 ? double.NaN : (double)Enumerable.Range(0, Labels.Count).Sum(i => Confusion[i, i]) / Count;

    public int Support(int c) => Enumerable.Range(0, Labels.Count).Sum(p => Confusion[c, p]);

    public double Precision(int c)
    {
        int predicted = Enumerable.Range(0, Labels.Count).Sum(t => Confusion[t, c]);
        return predicted == 0 ? 0 : (double)Confusion[c, c] / predicted;
    }

    public double Recall(int c) => Support(c) == 0 ? 0 : (double)Confusion[c, c] / Support(c);

    public double F1(int c)
    {
        double p = Precision(c), r = Recall(c);
        return p + r == 0 ? 0 : 2 * p * r / (p + r);
    }

    public double MacroF1 => Enumerable.Range(0, Labels.Count).Average(F1);

    public static ClassReport Of(IReadOnlyList<string> labels, IReadOnlyList<int> truth, IReadOnlyList<int> predicted)
    {
        if (truth.Count != predicted.Count) throw new ArgumentException($"{truth.Count} true labels but {predicted.Count} predictions.");
        var confusion = new int[labels.Count, labels.Count];
        for (int i = 0; i < truth.Count; i++) confusion[truth[i], predicted[i]]++;
        return new ClassReport(labels, confusion);
    }
}

/// <summary>The classifier for a label set: MiniLM with SingLoRA adapters on query, key, value and a head with one row per class.</summary>
public static class TextClassifierModel
{
    /// <summary>The module trained and saved whole beside the adapters.</summary>
    public const string Head = "classifier";

    /// <summary>
    /// For training: the annotated encoder (<see cref="SingLoRABertSelfAttention"/>) with the pretrained weights, a new head of
    /// <paramref name="classes"/> rows, and <paramref name="config"/> applied with <c>ApplySingLoRA</c>, the head added to its
    /// <c>ModulesToSave</c>: the adapters and the head trainable, everything else frozen, and <c>SaveAdapters</c> saves both.
    /// </summary>
    public static SpamClassifier ForTraining(string checkpoint, int classes, SingLoRAConfig config)
    {
        var encoder = new BertModel(BertConfig.MiniLML6, (c, i) => new SingLoRABertSelfAttention(c, i));
        encoder.LoadPretrained(checkpoint, AdapterSettings.LoadOptions);
        var model = new SpamClassifier(encoder, classes);
        model.ApplySingLoRA(config with { ModulesToSave = config.ModulesToSave.Append(Head).Distinct().ToList() });
        model.FreezeAllButAdapters();   // the modules to save (the head) stay trainable
        return model;
    }

    /// <summary>
    /// For prediction: the plain pretrained encoder, adapted by module path as the folder's <c>adapter_config.json</c> says
    /// (<c>AddSingLoRA(ReadConfig(dir).ToSingLoRAConfig())</c>), a head of <paramref name="classes"/> rows, and the saved adapters
    /// and head loaded (<c>LoadAdapters</c>).
    /// </summary>
    public static SpamClassifier FromFolder(string checkpoint, int classes, string directory)
    {
        var encoder = new BertModel(BertConfig.MiniLML6);
        encoder.LoadPretrained(checkpoint, AdapterSettings.LoadOptions);
        var model = new SpamClassifier(encoder, classes);
        try
        {
            model.AddSingLoRA(AdapterFile.ReadConfig(directory).ToSingLoRAConfig(), strict: true);
            model.LoadAdapters(directory);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    /// <summary>The predicted class of each token sequence and its probability (softmax), in evaluation mode without gradients.</summary>
    public static (int Class, float Probability)[] Classify(SpamClassifier model, IReadOnlyList<long[]> tokens, BertWordPiece tokenizer, int batch, Device device)
    {
        bool wasTraining = model.training;
        model.eval();
        var result = new List<(int, float)>(tokens.Count);
        using (no_grad())
        {
            for (int start = 0; start < tokens.Count; start += batch)
            {
                using var scope = NewDisposeScope();
                var (ids, mask) = tokenizer.Batch(tokens.Skip(start).Take(batch).ToList(), device);
                var (values, indices) = nn.functional.softmax(model.forward(ids, mask), -1).max(-1);
                var classes = indices.cpu().data<long>().ToArray();
                var probabilities = values.cpu().data<float>().ToArray();
                for (int i = 0; i < classes.Length; i++) result.Add(((int)classes[i], probabilities[i]));
            }
        }
        if (wasTraining) model.train();
        return result.ToArray();
    }
}

/// <summary>The settings of one <c>train</c> run.</summary>
public sealed record ClassifierTraining(int Steps, int StepsPerEpoch, int Batch, double Lr, double HeadLr, int EvalEvery, int Patience, long Seed, int EvalBatch = 32);

/// <summary>What one <c>train</c> run did: the losses, each evaluation, where it stopped and the best checkpoint.</summary>
public sealed record ClassifierRun(float[] Losses, IReadOnlyList<(int Step, double TrainLoss, double ValidationAccuracy)> Evaluations, int BestStep, double BestAccuracy, bool StoppedEarly, double Seconds);

/// <summary>The training loop of the <c>train</c> command: validation after every <c>EvalEvery</c> steps, the best checkpoint saved, early stopping.</summary>
public static class ClassifierTrainer
{
    /// <summary>
    /// Trains <paramref name="model"/> on <paramref name="train"/>; after every <see cref="ClassifierTraining.EvalEvery"/> steps (and at
    /// the end) measures validation accuracy, and when it beats the best so far saves the adapters and the head
    /// (<c>SaveAdapters</c>: the head is <see cref="TextClassifierModel.ForTraining"/>'s module to save) plus <c>labels.json</c> to <paramref name="bestDirectory"/>. Stops early
    /// after <see cref="ClassifierTraining.Patience"/> evaluations without improvement (0: never).
    /// </summary>
    public static ClassifierRun Train(SpamClassifier model, TextDataSet data, long[][] train, long[][] validation, BertWordPiece tokenizer, ClassifierTraining s,
        Device device, string bestDirectory, LabelSet labelSet, Action<string>? log = null)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var groups = new List<AdamW.ParamGroup>
        {
            new(model.Classifier.parameters(), lr: s.HeadLr),
            new(model.AdapterParameters(), lr: s.Lr),
        };
        using var optimizer = optim.AdamW(groups, lr: s.HeadLr);
        using var order = new BatchOrder(train.Length, s.Batch, s.Seed);
        using var labels = tensor(data.Train.Select(r => (long)data.IndexOf(r.Label)).ToArray());
        var validationTruth = data.Validation.Select(r => data.IndexOf(r.Label)).ToArray();
        using var losses = zeros(Math.Max(s.Steps, 1), device: device);
        var evaluations = new List<(int, double, double)>();
        int bestStep = 0, since = 0, windowStart = 0, done = 0;
        double best = double.NegativeInfinity;
        bool stopped = false;
        model.train();
        for (int step = 0; step < s.Steps; step++)
        {
            using (var scope = NewDisposeScope())
            {
                var idx = order.Next();
                var (ids, mask) = tokenizer.Batch(idx.data<long>().Select(i => train[i]).ToList(), device);
                var loss = nn.functional.cross_entropy(model.forward(ids, mask), labels.index(idx).to(device));
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                model.AdvanceRamp();
                losses[step].copy_(loss.detach());
            }
            done = step + 1;
            if (done % s.EvalEvery != 0 && done != s.Steps) continue;
            // Evaluation: the one place the loop reads from the device (the window's mean loss and the predictions).
            double trainLoss;
            using (var window = losses.narrow(0, windowStart, done - windowStart).mean()) trainLoss = window.item<float>();
            windowStart = done;
            var predicted = TextClassifierModel.Classify(model, validation, tokenizer, s.EvalBatch, device);
            double accuracy = predicted.Zip(validationTruth).Count(p => p.First.Class == p.Second) / (double)validationTruth.Length;
            evaluations.Add((done, trainLoss, accuracy));
            string epoch = $"epoch {(double)done / s.StepsPerEpoch:0.0#}";
            if (accuracy > best)
            {
                best = accuracy;
                bestStep = done;
                since = 0;
                var config = model.SaveAdapters(bestDirectory);   // the adapters and the head (ForTraining's modules to save)
                (labelSet with { Step = done, ValidationAccuracy = accuracy, WeightsSha256 = config.WeightsSha256 }).Write(bestDirectory);
                log?.Invoke($"step {done}/{s.Steps} ({epoch}): training loss {trainLoss:0.000}, validation accuracy {accuracy:P1}: best so far, saved");
            }
            else
            {
                since++;
                log?.Invoke($"step {done}/{s.Steps} ({epoch}): training loss {trainLoss:0.000}, validation accuracy {accuracy:P1} (best {best:P1} at step {bestStep}; {since} evaluation{(since == 1 ? "" : "s")} without improvement)");
                if (s.Patience > 0 && since >= s.Patience && done < s.Steps)
                {
                    stopped = true;
                    log?.Invoke($"Stopped early: no improvement in {s.Patience} evaluation{(s.Patience == 1 ? "" : "s")} (--patience {s.Patience}).");
                    break;
                }
            }
        }
        using var host = losses.narrow(0, 0, done).cpu();
        return new ClassifierRun(host.data<float>().ToArray(), evaluations, bestStep, best, stopped, watch.Elapsed.TotalSeconds);
    }
}
