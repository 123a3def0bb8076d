using System.Linq;
using System.Reflection;
using TorchSharp;
using TorchSharp.Modules;
using SingLoRA.Tests.Generated;
using static TorchSharp.torch;

namespace SingLoRA.Tests.Runtime;

/// <summary>
/// Replays on a CPU what <c>model.to(torch.CUDA)</c> does to a model on a GPU, where the requested device is
/// <c>cuda:-1</c> while every moved tensor reports <c>cuda:0</c>: each module's move logic then sees tensors whose
/// device index differs from the requested one, and TorchSharp's generic epilog replaces them and assigns them through
/// public properties of the same name. On a CPU tensors report index -1 and <c>Module.to</c> normalises the request to
/// -1, so that path never runs; here each module gets the move with <c>cpu:0</c>, bottom-up as TorchSharp recurses.
/// This is how the H200 failure (<c>Property set method not found</c> in <c>Module._toEpilog</c>) reproduces here.
/// </summary>
internal static class CudaLikeMove
{
    private static readonly MethodInfo s_epilog = typeof(nn.Module).GetMethod(
        "_toEpilog", BindingFlags.Instance | BindingFlags.NonPublic, new[] { typeof(ScalarType?), typeof(Device), typeof(bool) })!;

    private static readonly MethodInfo s_toDevice = typeof(nn.Module).GetMethod(
        "_to", BindingFlags.Instance | BindingFlags.NonPublic, new[] { typeof(DeviceType), typeof(int), typeof(bool) })!;

    /// <summary>Moves every module of <paramref name="root"/> (children first) to "another index" of the CPU.</summary>
    public static void Apply(nn.Module root)
    {
        var target = new Device(DeviceType.CPU, 0);
        var bottomUp = root.named_modules().Select(m => m.module).Prepend(root).Reverse().ToList();
        foreach (var module in bottomUp)
        {
            try
            {
                // Linear (and an adapter, which moves its Linear first) has its own _to that keeps the index.
                if (module is Linear or AdaptedLinear) s_toDevice.Invoke(module, new object[] { DeviceType.CPU, 0, false });
                // What Module._to runs when the device "changed": on CUDA it always has, for every module.
                if (module is not Linear) s_epilog.Invoke(module, new object?[] { null, target, false });
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerException).Throw();
            }
        }
    }

    /// <summary>A model with every adapter kind and wiring the generator produces (intercepted Linear fields, swapped module fields, a non-square target).</summary>
    public static TinyTransformer GeneratedModel() => new(adapted: true);
}
