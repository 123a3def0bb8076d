using System;
using System.Collections.Generic;
using TorchSharp;
using static TorchSharp.torch;

namespace SingLoRA.Samples;

/// <summary>
/// The quickstart's two related tasks and their shared settings, read from the command line: pre-train a
/// <see cref="TinyTransformer"/> on "previous token" (offset 1), fine-tune on "copy <c>--offset</c> back".
/// Both apps read the same options, so the experiments run on exactly the quickstart's fine-tuning task.
/// </summary>
public sealed record FineTuneSetup(
    TransformerConfig Model, int PretrainSteps, double PretrainLr, int Steps, int Batch, int EvalSize, int Offset, long Seed)
{
    /// <summary>Reads the model sizes and training settings (each an option with a default).</summary>
    public static FineTuneSetup Read(CommandLine cl, int defaultPretrainSteps = 400, int defaultSteps = 300)
    {
        ArgumentNullException.ThrowIfNull(cl);
        var model = new TransformerConfig(
            Vocab: cl.Int("vocab", 32, "vocabulary size of the synthetic tasks"),
            Length: cl.Int("length", 32, "sequence length"),
            DModel: cl.Int("d-model", 64, "model width (the attention projections are d-model x d-model)"),
            Heads: cl.Int("heads", 4, "attention heads"),
            Layers: cl.Int("layers", 2, "transformer blocks"),
            Hidden: cl.Int("hidden", 128, "MLP hidden size"));
        return new FineTuneSetup(
            model,
            PretrainSteps: cl.Int("pretrain-steps", defaultPretrainSteps, "pre-training steps on the previous-token task (full fine-tuning of a fresh model)"),
            PretrainLr: cl.Double("pretrain-lr", 3e-3, "pre-training AdamW learning rate"),
            Steps: cl.Int("steps", defaultSteps, "fine-tuning steps (optimizer steps) on the second task"),
            Batch: cl.Int("batch", 64, "sequences per batch"),
            EvalSize: cl.Int("eval-size", 512, "held-out sequences for the metric"),
            Offset: cl.Int("offset", 2, "the fine-tuning task copies the token this many places back (pre-training uses 1)"),
            Seed: cl.Int("seed", 0, "random seed (model init and data)"));
    }

    /// <summary>The pre-training task (offset 1).</summary>
    public CopyTask PretrainTask => new(Model.Vocab, Model.Length, 1);

    /// <summary>The fine-tuning task.</summary>
    public CopyTask FineTuneTask => new(Model.Vocab, Model.Length, Offset);

    /// <summary>A held-out batch of <paramref name="task"/>, drawn from its own seed (never seen in training).</summary>
    public (Tensor X, Tensor Y) EvalSet(CopyTask task, Device device)
    {
        ArgumentNullException.ThrowIfNull(task);
        using var gen = Trainer.DataGenerator(1_000_003 + Seed * 7919 + task.Offset);
        return task.Sample(EvalSize, gen, device);
    }

    /// <summary>Pre-trains a plain model on the previous-token task; returns it (on <paramref name="device"/>) and its per-step losses.</summary>
    public (TinyTransformer Model, float[] Losses) Pretrain(Device device, Action<int, double>? onLog = null, int logEvery = 10)
    {
        manual_seed(Seed);
        var model = TinyTransformer.Plain(Model);
        model.to(device);
        using var optimizer = optim.AdamW(model.parameters(), lr: PretrainLr);
        using var data = Trainer.DataGenerator(Seed);
        var result = Trainer.Train(model, optimizer, PretrainTask, PretrainSteps, Batch, data, device, logEvery: logEvery, onLog: onLog);
        return (model, result.Losses);
    }

    /// <summary>The fine-tuning data stream of one run (its own seed, the same for every method compared).</summary>
    public TorchSharp.torch.Generator FineTuneData(long runSeed) => Trainer.DataGenerator(500_009 + runSeed);
}
