using System;
using SingLoRA.Benchmarks;

// Modes: `--help` lists them (Cli.Usage); docs/performance.md explains them and their reports.
// SINGLORA_BENCH_THREADS=1 pins libtorch to one thread: on a loaded machine OpenMP barriers waiting for a descheduled
// thread make 2-thread timings erratic; one thread gives stable ratios (the default is libtorch's: one per core).
if (int.TryParse(Environment.GetEnvironmentVariable("SINGLORA_BENCH_THREADS"), out int threads) && threads > 0)
    TorchSharp.torch.set_num_threads(threads);
return Cli.Run(args);
