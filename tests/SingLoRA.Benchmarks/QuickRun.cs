using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using SingLoRA.Benchmarks.Harness;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SingLoRA.Benchmarks;

/// <summary>
/// The quick mode: every benchmarked variant built small, run for two steps and checked (no timing). The test suite
/// runs each check (tests/SingLoRA.Tests/Benchmarks); <c>--quick</c> runs them all from the command line.
/// Each check throws <see cref="InvalidOperationException"/> on a failure.
/// </summary>
public static class QuickRun
{
    /// <summary>Small cases: square and both non-square orientations.</summary>
    public static readonly IReadOnlyList<LayerCase> Cases = new[] { "16 r4 n8", "16x40 r4 n8", "40x16 r4 n8" }.Select(LayerCase.Parse).ToArray();

    /// <summary>Every check, by name.</summary>
    public static readonly IReadOnlyList<(string Name, Action Check)> Checks = new (string, Action)[]
    {
        (nameof(EveryTrainingVariantSteps), EveryTrainingVariantSteps),
        (nameof(MaterialisingAndIdealMatchThinSingLoRA), MaterialisingAndIdealMatchThinSingLoRA),
        (nameof(BytesAreHalfOfLoRAOnSquareLayers), BytesAreHalfOfLoRAOnSquareLayers),
        (nameof(MergedInferenceMatches), MergedInferenceMatches),
        (nameof(GeneratedWiringMatchesHandWiring), GeneratedWiringMatchesHandWiring),
        (nameof(TransformerMethodsTrain), TransformerMethodsTrain),
        (nameof(GeneratorRunsAndAnUnrelatedEditRerunsNothing), GeneratorRunsAndAnUnrelatedEditRerunsNothing),
        (nameof(InterleavedMeasurerAndFlops), InterleavedMeasurerAndFlops),
    };

    /// <summary>Runs every check; prints one line each.</summary>
    public static bool Run(TextWriter output)
    {
        bool ok = true;
        foreach (var (name, check) in Checks)
        {
            try
            {
                check();
                output.WriteLine($"ok    {name}");
            }
            catch (Exception e)
            {
                ok = false;
                output.WriteLine($"FAIL  {name}: {e}");
            }
        }
        return ok;
    }

    private static void Require(bool condition, string message)
    {
        if (!condition) throw new InvalidOperationException(message);
    }

    private static void Close(Tensor a, Tensor b, string what, double rtol = 1e-4, double atol = 1e-5)
    {
        Require(a.shape.SequenceEqual(b.shape), $"{what}: shapes [{string.Join(",", a.shape)}] and [{string.Join(",", b.shape)}] differ.");
        double diff = (a.to_type(ScalarType.Float64) - b.to_type(ScalarType.Float64)).abs().max().item<double>();
        Require(a.allclose(b, rtol, atol), $"{what}: max difference {diff}.");
    }

    /// <summary>Each variant of each small case takes two steps: finite losses; the trainable tensors move; the frozen ones do not.</summary>
    public static void EveryTrainingVariantSteps()
    {
        foreach (var c in Cases)
            foreach (var v in Enum.GetValues<Variant>())
            {
                using var s = LayerStep.Create(v, c.Shape, c.Rank, c.Rows, rampLength: 1);
                var before = s.Trainable.Select(p => p.detach().clone()).ToArray();
                var frozenBefore = s.Module.parameters().Where(p => !p.requires_grad).Select(p => p.detach().clone()).ToArray();
                float l1 = s.StepAndLoss(), l2 = s.StepAndLoss();
                Require(float.IsFinite(l1) && float.IsFinite(l2), $"{v} {c}: loss not finite ({l1}, {l2}).");
                Require(v == Variant.Base ? s.Trainable.Count == 0 : s.Trainable.Count > 0, $"{v} {c}: wrong trainable set.");
                for (int i = 0; i < before.Length; i++)
                    Require(!before[i].eq(s.Trainable[i].detach()).all().item<bool>(), $"{v} {c}: trainable tensor {i} did not change in two steps.");
                var frozenAfter = s.Module.parameters().Where(p => !p.requires_grad).ToArray();
                for (int i = 0; i < frozenBefore.Length; i++)
                    Require(frozenBefore[i].eq(frozenAfter[i].detach()).all().item<bool>(), $"{v} {c}: frozen tensor {i} changed.");
                if (v is Variant.SingLoRA or Variant.MaterialisingSingLoRA or Variant.IdealSingLoRA)
                    Require(s.Trainable.Single().shape.SequenceEqual(new[] { c.Shape.Width, (long)c.Rank }), $"{v} {c}: A has the wrong shape.");
                foreach (var t in before.Concat(frozenBefore)) t.Dispose();
            }
    }

    /// <summary>
    /// The materialising foil and the bare-ops variant compute SingLoRA's function: with the same <c>A</c>, the same forward
    /// (and the same loss) and the same gradient of <c>A</c> as <see cref="SingLoRALinear"/>, on every shape; and after two
    /// identical AdamW steps the same <c>A</c>.
    /// </summary>
    public static void MaterialisingAndIdealMatchThinSingLoRA()
    {
        foreach (var c in Cases)
        {
            using var thin = LayerStep.Create(Variant.SingLoRA, c.Shape, c.Rank, c.Rows, rampLength: 3);
            using var mat = LayerStep.Create(Variant.MaterialisingSingLoRA, c.Shape, c.Rank, c.Rows, rampLength: 3);
            using var ideal = LayerStep.Create(Variant.IdealSingLoRA, c.Shape, c.Rank, c.Rows, rampLength: 3);
            using (no_grad())
            {
                mat.Trainable[0].copy_(thin.Trainable[0]);
                ideal.Trainable[0].copy_(thin.Trainable[0]);
            }
            var all = new[] { thin, mat, ideal };
            // Step 1 (u = 0) and step 2 (u = 1/3): the same A afterwards.
            for (int step = 0; step < 2; step++)
            {
                var losses = all.Select(s => s.StepAndLoss()).ToArray();
                Require(Math.Abs(losses[0] - losses[1]) <= 1e-5 * Math.Max(1, Math.Abs(losses[0])) && Math.Abs(losses[0] - losses[2]) <= 1e-5 * Math.Max(1, Math.Abs(losses[0])),
                    $"{c} step {step + 1}: losses differ: {string.Join(", ", losses)}.");
                Close(thin.Trainable[0].detach(), mat.Trainable[0].detach(), $"{c} step {step + 1}: A, materialising vs thin");
                Close(thin.Trainable[0].detach(), ideal.Trainable[0].detach(), $"{c} step {step + 1}: A, ideal vs thin");
            }
            // With u > 0 now: forwards and gradients agree.
            using var scope = NewDisposeScope();
            var outputs = all.Select(s => s.Forward()).ToArray();
            Close(outputs[0], outputs[1], $"{c}: forward, materialising vs thin");
            Close(outputs[0], outputs[2], $"{c}: forward, ideal vs thin");
            var grads = new Tensor[3];
            for (int i = 0; i < 3; i++)
            {
                all[i].Trainable[0].grad?.zero_();
                outputs[i].square().sum().backward();
                grads[i] = all[i].Trainable[0].grad!.clone();
            }
            Require(grads[0].abs().max().item<float>() > 0, $"{c}: the gradient of A is zero; the check would prove nothing.");
            Close(grads[0], grads[1], $"{c}: dL/dA, materialising vs thin", rtol: 1e-3, atol: 1e-4);
            Close(grads[0], grads[2], $"{c}: dL/dA, ideal vs thin", rtol: 1e-3, atol: 1e-4);
        }
    }

    /// <summary>
    /// Bytes of parameters + AdamW state, counted from the tensors: AdamW holds two moments per value; SingLoRA holds
    /// exactly half of LoRA's at the same rank on square layers, and LoRA at equal parameter count holds SingLoRA's.
    /// </summary>
    public static void BytesAreHalfOfLoRAOnSquareLayers()
    {
        foreach (var c in Cases.Append(LayerCase.Parse("64 r8 n4")))
        {
            TrainingBytes Of(Variant v)
            {
                using var s = LayerStep.Create(v, c.Shape, c.Rank, c.Rows);
                s.Step();
                s.Step();
                return TrainingBytes.Of(s.Trainable.ToList(), s.Optimizer);
            }
            var sing = Of(Variant.SingLoRA);
            var lora = Of(Variant.LoRAEqualRank);
            var loraEq = Of(Variant.LoRAEqualParams);
            var full = Of(Variant.FullFineTune);
            Require(sing.TrainableValues == c.Shape.Width * c.Rank, $"{c}: SingLoRA trains {sing.TrainableValues} values, expected n·r.");
            Require(lora.TrainableValues == (c.Shape.In + c.Shape.Out) * c.Rank, $"{c}: LoRA trains {lora.TrainableValues} values.");
            Require(full.TrainableValues == c.Shape.In * c.Shape.Out + c.Shape.Out, $"{c}: full FT trains {full.TrainableValues} values.");
            foreach (var b in new[] { sing, lora, loraEq, full })
            {
                Require(b.OptimizerStateBytes == 2 * b.ParameterBytes, $"{c}: AdamW state {b.OptimizerStateBytes} bytes for {b.ParameterBytes} parameter bytes; expected two moments.");
                Require(b.ParametersAndOptimizerState == TrainingBytes.AdamWFloat32(b.TrainableValues), $"{c}: bytes differ from 12 per float32 value.");
            }
            if (c.Shape.In == c.Shape.Out)
            {
                Require(2 * sing.ParametersAndOptimizerState == lora.ParametersAndOptimizerState, $"{c}: SingLoRA holds {sing.ParametersAndOptimizerState} bytes, LoRA {lora.ParametersAndOptimizerState}: not half.");
                Require(sing.ParametersAndOptimizerState == loraEq.ParametersAndOptimizerState, $"{c}: LoRA at equal parameter count holds {loraEq.ParametersAndOptimizerState} bytes, SingLoRA {sing.ParametersAndOptimizerState}.");
            }
        }
    }

    /// <summary>Merged inference: the base's output shape, and the unmerged adapter's values.</summary>
    public static void MergedInferenceMatches()
    {
        foreach (var c in Cases)
        {
            var (b, m, u, x) = InferenceSet.Create(c.Shape, c.Rank, c.Rows);
            try
            {
                using var _ = inference_mode();
                using var scope = NewDisposeScope();
                Require(m.IsMerged && !u.IsMerged, $"{c}: merge state.");
                var yb = b.forward(x);
                var ym = m.forward(x);
                var yu = u.forward(x);
                Require(yb.shape.SequenceEqual(ym.shape), $"{c}: merged output shape differs from the base's.");
                Close(ym, yu, $"{c}: merged vs unmerged output");
                Require(!ym.allclose(yb), $"{c}: the merged adapter equals the base layer; the update is empty and the check proves nothing.");
            }
            finally
            {
                b.Dispose(); m.Dispose(); u.Dispose(); x.Dispose();
            }
        }
    }

    /// <summary>Generated and hand wiring: same state-dict keys, same outputs, same adapters after two identical steps.</summary>
    public static void GeneratedWiringMatchesHandWiring()
    {
        using var g = new WiringStep(Wiring.Generated, 16, 8);
        using var h = new WiringStep(Wiring.Hand, 16, 8);
        var gk = g.Model.state_dict().Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
        var hk = h.Model.state_dict().Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
        Require(gk.SequenceEqual(hk), $"state-dict keys differ: {string.Join(",", gk)} vs {string.Join(",", hk)}.");
        Require(gk.Contains("q.singlora_A") && gk.Contains("k.singlora_A") && !gk.Contains("v.singlora_A"), "the generated block does not have adapters on exactly q and k.");
        Require(g.Model.AdapterParameters().Count() == 2, "the generated block's optimizer does not see two adapters.");
        for (int i = 0; i < 3; i++) { g.Step(); h.Step(); }
        using var scope = NewDisposeScope();
        var gs = g.Model.state_dict();
        var hs = h.Model.state_dict();
        foreach (var k in gk) Close(gs[k].to_type(ScalarType.Float64), hs[k].to_type(ScalarType.Float64), $"after 3 steps, {k}");
        using (no_grad()) Close(g.Forward(), h.Forward(), "forward after 3 steps");
    }

    /// <summary>The transformer, tiny: each method takes two steps with finite losses; the trainable counts are as designed.</summary>
    public static void TransformerMethodsTrain()
    {
        var c = TransformerConfig.Tiny;
        foreach (var f in Enum.GetValues<FineTune>())
        {
            using var t = new TransformerStep(f, c);
            float l1 = t.StepAndLoss(), l2 = t.StepAndLoss();
            Require(float.IsFinite(l1) && float.IsFinite(l2), $"{f}: loss not finite ({l1}, {l2}).");
            long values = t.Trainable.Sum(p => p.numel());
            long expected = f switch
            {
                FineTune.SingLoRA => c.Layers * 3L * c.Dim * c.Rank,
                FineTune.LoRA => c.Layers * 3L * 2 * c.Dim * c.Rank,
                _ => t.Model.parameters().Sum(p => p.numel()),
            };
            Require(values == expected, $"{f}: {values} trainable values, expected {expected}.");
        }
    }

    /// <summary>The generator over 1 and 10 classes: two files a class, no errors; an unrelated edit re-runs no step; a rank edit re-runs some.</summary>
    public static void GeneratorRunsAndAnUnrelatedEditRerunsNothing()
    {
        foreach (int n in new[] { 1, 10 })
        {
            var w = GeneratorWorkload.Create(n);
            var driver = GeneratorWorkload.Run(GeneratorWorkload.CreateDriver(), w.Fresh());
            Require(GeneratorWorkload.GeneratedFiles(driver) == 2 * n, $"{n} classes: {GeneratorWorkload.GeneratedFiles(driver)} generated files, expected {2 * n}.");
            driver.RunGeneratorsAndUpdateCompilation(w.Fresh(), out var output, out var diagnostics);
            var errors = output.GetDiagnostics().Where(d => d.Severity == Microsoft.CodeAnalysis.DiagnosticSeverity.Error).ToArray();
            Require(diagnostics.IsEmpty && errors.Length == 0, $"{n} classes: the generated project does not compile: {string.Join("; ", errors.Take(3))}");
            var afterEdit = GeneratorWorkload.Run(driver, w.WithUnrelatedEdit(w.Compilation, 1));
            var (rerun, reused) = GeneratorWorkload.Reasons(afterEdit);
            Require(rerun == 0 && reused > 0, $"{n} classes: an unrelated edit re-ran {rerun} values ({reused} reused).");
            var afterRank = GeneratorWorkload.Run(driver, w.WithRankEdit(w.Compilation, 4));
            var (rerun2, _) = GeneratorWorkload.Reasons(afterRank);
            Require(rerun2 > 0, $"{n} classes: a rank edit re-ran nothing.");
        }
    }

    /// <summary>The ratio measurer runs and reports the reference as 1; the FLOP model ranks the variants as expected.</summary>
    public static void InterleavedMeasurerAndFlops()
    {
        int a = 0, b = 0;
        var t = Interleaved.Measure(new (string, Action)[] { ("a", () => a++), ("b", () => b++) }, rounds: 3, batchMilliseconds: 1);
        Require(t.Count == 2 && t[0].RatioToReference == 1 && a > 0 && b > 0, "the interleaved measurer did not run both operations.");
        var c = LayerCase.Parse("512 r8 n64");
        Require(Flops.Step(Variant.MaterialisingSingLoRA, c) > 1.5 * Flops.Step(Variant.SingLoRA, c), "FLOP model: materialising should cost more than 1.5× SingLoRA at rows ≤ d.");
        Require(Flops.Step(Variant.SingLoRA, c) < 1.2 * Flops.Step(Variant.Base, c), "FLOP model: SingLoRA rank 8 should add under 20% at d = 512.");
    }
}
