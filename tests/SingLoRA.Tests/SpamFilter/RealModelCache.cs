using System;
using System.IO;

namespace SingLoRA.Tests.SpamFilter;

/// <summary>
/// The SpamFilter sample's cache folder (<c>artifacts/cache</c> at the repository root, ignored by git), shared by these
/// tests and the sample, so the ONNX conversion and the npm download happen once per checkout.
/// </summary>
internal static class RealModelCache
{
    public static string Root
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SingLoRA.Gen.sln"))) dir = dir.Parent;
            if (dir is null) throw new InvalidOperationException($"No SingLoRA.Gen.sln above {AppContext.BaseDirectory}.");
            return Path.Combine(dir.FullName, "artifacts", "cache");
        }
    }

    /// <summary>The converted all-MiniLM-L6-v2 checkpoint (converted now if missing).</summary>
    public static string Checkpoint => global::SpamFilter.MiniLM.OnnxCheckpoint.Ensure(Path.Combine(Root, "minilm"));
}
