using System;
using static TorchSharp.torch;

namespace SingLoRA.Samples;

/// <summary>The <c>--device</c> option: <c>cpu</c> or <c>cuda</c>, falling back to the CPU with a clear message.</summary>
public static class Devices
{
    /// <summary>Resolves <paramref name="requested"/>; writes a one-line explanation to <paramref name="warn"/> when it falls back.</summary>
    public static Device Resolve(string requested, Action<string> warn)
    {
        ArgumentNullException.ThrowIfNull(warn);
        switch (requested.Trim().ToLowerInvariant())
        {
            case "cpu":
                return CPU;
            case "cuda":
            case "gpu":
                if (cuda.is_available()) return CUDA;
                warn("CUDA was requested but is not available: this build references the CPU libtorch, or no NVIDIA GPU/driver was found. " +
                     "On a machine with an NVIDIA GPU, build with -p:SingLoRADevice=cuda, or run on an installed PyTorch's CUDA libtorch (README, \"GPU\"). Falling back to the CPU.");
                return CPU;
            default:
                throw new ArgumentException($"--device must be 'cpu' or 'cuda' (got '{requested}').");
        }
    }
}
