using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using Xunit;
using Xunit.Abstractions;

namespace SingLoRA.Packaging.Tests;

/// <summary>
/// The GPU kit (tools/gpu) rehearsed on a CPU, as README "GPU" describes it: <c>make-kit.sh</c> publishes the quickstart and
/// the correctness app without a libtorch package, then <c>gpu-check.sh --device cpu</c> runs them on an installed libtorch
/// (here the libtorch of the CPU NuGet package, standing in for PyTorch's <c>torch/lib</c>). The kit is built from a copy
/// of the repository's files, so its publish never touches the build outputs of the test run.
/// </summary>
[Trait("Category", "Packaging")]
public class GpuKitTests(ITestOutputHelper output)
{
    private static string Meta(string key) =>
        typeof(GpuKitTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    [Fact]
    public void The_kit_runs_the_quickstart_and_the_correctness_app_on_an_installed_libtorch_and_never_falls_back_silently()
    {
        string repo = Meta("SingLoRA.RepoRoot");
        string libtorch = InstalledLibTorchStandIn();
        string work = Path.Combine(Path.GetTempPath(), "singlora-gpu-kit-test-" + Guid.NewGuid().ToString("N")[..12]);
        string copy = Path.Combine(work, "repo"), kit = Path.Combine(work, "kit");
        try
        {
            CopyRepository(repo, copy);
            string made = Run("bash", $"tools/gpu/make-kit.sh --no-runtime \"{kit}\"", copy, 900);
            Assert.Contains("publishing tools/gpu/GpuCheck", made);
            Assert.False(File.Exists(Path.Combine(kit, "GpuCheck", "libtorch_cpu.so")), "the kit ships a libtorch");
            Assert.True(File.Exists(Path.Combine(kit, "GpuCheck", "libLibTorchSharp.so")));

            var env = new Dictionary<string, string?>
            {
                ["SINGLORA_LIBTORCH"] = libtorch,
                ["QUICKSTART_ARGS"] = "--pretrain-steps 40 --steps 10 --eval-size 64",
                ["OUT"] = Path.Combine(work, "out-cpu"),
            };
            string check = Run("bash", $"\"{Path.Combine(kit, "gpu-check.sh")}\" --device cpu", work, 600, env);
            Assert.Contains("GPU CHECK: PASS on cpu", check);
            Assert.Contains("gpu-check: 7 passed, 0 failed on cpu", check);

            // Asking for CUDA where there is none fails: the quickstart's CPU fallback does not count as a GPU run.
            if (!File.Exists("/dev/nvidia0"))
            {
                env["OUT"] = Path.Combine(work, "out-cuda");
                string noGpu = Run("bash", $"\"{Path.Combine(kit, "gpu-check.sh")}\" --device cuda", work, 600, env, expectSuccess: false);
                Assert.Contains("GPU CHECK: FAIL on cuda", noGpu);
            }

            // The app alone, bound by SINGLORA_LIBTORCH only (no LD_LIBRARY_PATH, no NuGet cache to fall back on).
            var bare = new Dictionary<string, string?> { ["SINGLORA_LIBTORCH"] = libtorch, ["NUGET_PACKAGES"] = "/nonexistent", ["LD_LIBRARY_PATH"] = null };
            string direct = Run("dotnet", "GpuCheck.dll --device cpu", Path.Combine(kit, "GpuCheck"), 300, bare);
            Assert.Contains($"libtorch: installed libtorch at {libtorch} (CPU only)", direct);
            Assert.Contains("gpu-check: 7 passed, 0 failed on cpu", direct);

            // Without it, the app says what to do before TorchSharp's own error.
            bare["SINGLORA_LIBTORCH"] = null;
            string missing = Run("dotnet", "GpuCheck.dll --device cpu", Path.Combine(kit, "GpuCheck"), 300, bare, expectSuccess: false);
            Assert.Contains("built without a libtorch package", missing);
        }
        finally
        {
            try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>The CPU libtorch of the NuGet cache: the folder an installed PyTorch's torch/lib plays in this test.</summary>
    private static string InstalledLibTorchStandIn()
    {
        string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var folder = Directory.EnumerateDirectories(Path.Combine(packages, "libtorch-cpu-linux-x64"))
            .Select(v => Path.Combine(v, "runtimes", "linux-x64", "native"))
            .Where(d => File.Exists(Path.Combine(d, "libtorch_cpu.so")))
            .OrderBy(d => d, StringComparer.Ordinal).LastOrDefault();
        Assert.True(folder is not null, $"no libtorch-cpu-linux-x64 in {packages}: restore the solution first.");
        return folder!;
    }

    /// <summary>Copies the files git knows (tracked, and untracked ones it does not ignore) from <paramref name="repo"/>.</summary>
    private void CopyRepository(string repo, string target)
    {
        string files = Run("git", "ls-files -z --cached --others --exclude-standard", repo, 60, quiet: true);
        foreach (var file in files.Split('\0', StringSplitOptions.RemoveEmptyEntries))
        {
            string source = Path.Combine(repo, file);
            if (!File.Exists(source)) continue;   // deleted in the working tree
            string destination = Path.Combine(target, file);
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            File.Copy(source, destination);
        }
    }

    private string Run(string file, string arguments, string directory, int timeoutSeconds,
        IReadOnlyDictionary<string, string?>? environment = null, bool expectSuccess = true, bool quiet = false)
    {
        var (code, text) = SingLoRA.Testing.DotnetProcess.Run(file, arguments, directory, timeoutSeconds, quiet ? null : output.WriteLine, environment);
        if (expectSuccess) Assert.True(code == 0, $"`{file} {arguments}` exited with {code}:\n{text}");
        else Assert.True(code != 0, $"`{file} {arguments}` should have failed:\n{text}");
        return text;
    }
}
