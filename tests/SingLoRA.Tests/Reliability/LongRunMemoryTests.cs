using System;
using System.Diagnostics;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Reliability;

/// <summary>Tests that measure process-wide memory run alone, after the parallel tests, so others' allocations do not count.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MeasuresProcessMemory
{
    public const string Name = "Measures process memory";
}

/// <summary>10,000 training steps of a small adapted model: neither native nor managed memory may grow.</summary>
[Collection(MeasuresProcessMemory.Name)]
public class LongRunMemoryTests(ITestOutputHelper output)
{
    private sealed class Tiny : nn.Module<Tensor, Tensor>
    {
        private readonly SingLoRALinear q, k;
        private readonly TorchSharp.Modules.Linear head;

        public Tiny(int d) : base(nameof(Tiny))
        {
            q = new SingLoRALinear(nn.Linear(d, d), new SingLoRAOptions(4, RampLength: 100));
            k = new SingLoRALinear(nn.Linear(d, d), new SingLoRAOptions(4, RampLength: 100));
            head = nn.Linear(d, 1);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => head.forward(nn.functional.gelu(q.forward(x)) * k.forward(x));
    }

    [Fact]
    public void Ten_thousand_steps_leave_no_native_or_managed_memory_behind()
    {
        using var outer = NewDisposeScope();
        manual_seed(5);
        var model = new Tiny(32);
        model.FreezeAllButAdapters();
        var optimizer = optim.AdamW(model.AdapterParameters(), lr: 1e-3);
        using var guard = new NonFiniteGuard(model, checkEvery: 1000);
        var x = randn(16, 32);
        var y = randn(16, 1);
        var lossSum = zeros(1);

        void Train(int steps)
        {
            for (int i = 0; i < steps; i++)
            {
                using var scope = NewDisposeScope();
                var loss = nn.functional.mse_loss(model.forward(x), y);
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                model.AdvanceRamp();
                guard.AfterStep(loss);
                lossSum.add_(loss.detach()); // accumulated on the device, read once at the end
            }
        }

        Train(500); // warm-up: optimizer state, allocator pools, JIT
        long liveBefore = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        long managedBefore = GC.GetTotalMemory(forceFullCollection: true);
        long rssBefore = Process.GetCurrentProcess().WorkingSet64;
        Train(10_000);
        long liveAfter = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        long managedAfter = GC.GetTotalMemory(forceFullCollection: true);
        var process = Process.GetCurrentProcess();
        process.Refresh();
        long rssAfter = process.WorkingSet64;

        output.WriteLine($"live tensors: {liveBefore} -> {liveAfter}");
        output.WriteLine($"managed heap: {managedBefore / 1024.0:0} KiB -> {managedAfter / 1024.0:0} KiB");
        output.WriteLine($"process RSS : {rssBefore / 1048576.0:0.0} MiB -> {rssAfter / 1048576.0:0.0} MiB");
        output.WriteLine($"mean loss   : {lossSum.item<float>() / 10_500:G4}");

        Assert.Equal(10_500, model.GetSingLoRALayers()[0].Adapter.RampStep);
        Assert.Equal(liveBefore, liveAfter); // not one tensor left behind per step
        Assert.True(managedAfter - managedBefore < 4 * 1024 * 1024, "managed memory grew by more than 4 MiB");
        Assert.True(rssAfter - rssBefore < 64 * 1024 * 1024, "native memory grew by more than 64 MiB");
    }
}
