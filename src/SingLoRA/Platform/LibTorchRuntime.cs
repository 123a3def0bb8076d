using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;

namespace SingLoRA.Platform;

/// <summary>
/// Runs TorchSharp on a libtorch that is installed on the machine (PyTorch's own <c>torch/lib</c>, or an unpacked libtorch
/// archive) instead of one shipped in a NuGet package: the way to use a GPU where the <c>TorchSharp-cuda-linux</c> package
/// is not available, or to share the CUDA libtorch that a PyTorch installation already holds.
/// </summary>
/// <remarks>
/// <para>Build the app without a libtorch package (<c>-p:SingLoRAReferenceLibTorch=false</c>), call
/// <see cref="UseInstalled"/> first thing in <c>Main</c>, and run with <c>SINGLORA_LIBTORCH</c> set to the folder that
/// holds <c>libtorch_cpu.so</c> (and <c>libtorch_cuda.so</c> for a GPU), or to <c>python</c> to take the <c>torch/lib</c>
/// folder of the PyTorch that <c>python3</c> imports. The call loads <c>libc10</c>, <c>libtorch_cpu</c>, <c>libtorch</c>
/// and, where present, the CUDA libraries by full path; TorchSharp, which loads <c>torch_cuda</c> and
/// <c>LibTorchSharp</c> by name, then binds to them. Without the variable (and without a folder argument) the call does
/// nothing, so an app can make it unconditionally.</para>
/// <para>TorchSharp 0.107 is built for libtorch 2.10; PyTorch 2.11's libtorch provides every symbol its native shim needs
/// (measured on an H200, see the README's GPU section). Other versions may not: a missing symbol surfaces as TorchSharp's
/// load error.</para>
/// </remarks>
public static class LibTorchRuntime
{
    /// <summary>The environment variable <see cref="UseInstalled"/> reads: a libtorch folder, or <c>python</c>.</summary>
    public const string EnvironmentVariable = "SINGLORA_LIBTORCH";

    // Load order: each library's dependencies first (libtorch_global_deps is what PyTorch itself loads first).
    private static readonly string[] s_cpuLibraries = { "libtorch_global_deps.so", "libc10.so", "libtorch_cpu.so", "libtorch.so" };
    private static readonly string[] s_cudaLibraries = { "libc10_cuda.so", "libtorch_cuda.so" };

    private static readonly object s_lock = new();
    private static LibTorchBinding? s_binding;

    /// <summary>
    /// Binds TorchSharp to the libtorch in <paramref name="folder"/> (or in the folder named by <c>SINGLORA_LIBTORCH</c>).
    /// Returns null when neither is given. Call it before any other TorchSharp call; calling it again with the same folder
    /// returns the same binding.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">Not on Linux.</exception>
    /// <exception cref="InvalidOperationException">The folder or its libraries are missing, the app ships its own libtorch, or a
    /// libtorch is already loaded from elsewhere; the message says which and what to do.</exception>
    public static LibTorchBinding? UseInstalled(string? folder = null)
    {
        string? requested = folder ?? Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(requested)) return null;
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux))
            throw new PlatformNotSupportedException($"{EnvironmentVariable} / LibTorchRuntime.UseInstalled is supported on Linux only. Unset {EnvironmentVariable} and reference a libtorch package instead.");
        lock (s_lock)
        {
            string resolved = Resolve(requested.Trim());
            if (s_binding is { } existing)
            {
                if (existing.Folder == resolved) return existing;
                throw new InvalidOperationException($"libtorch is already bound to {existing.Folder}; it cannot be switched to {resolved} in the same process.");
            }
            CheckNoBundledLibTorch();
            CheckNotLoadedElsewhere(resolved);
            var loaded = new List<string>();
            foreach (var name in s_cpuLibraries.Concat(s_cudaLibraries))
            {
                string path = Path.Combine(resolved, name);
                if (!File.Exists(path))
                {
                    if (name is "libc10.so" or "libtorch_cpu.so" or "libtorch.so")
                        throw new InvalidOperationException($"{resolved} has no {name}: it is not a libtorch folder. Point {EnvironmentVariable} at the folder that holds libtorch_cpu.so (PyTorch's site-packages/torch/lib), or set it to 'python'.");
                    continue;
                }
                try
                {
                    NativeLibrary.Load(path);
                }
                catch (DllNotFoundException e)
                {
                    throw new InvalidOperationException(
                        $"Loading {path} failed: {e.Message}. A library it needs is not on the loader's path; for PyTorch wheels with CUDA, " +
                        "start the process with LD_LIBRARY_PATH including the site-packages/nvidia/*/lib folders (tools/gpu/run-on-gpu.sh does).", e);
                }
                loaded.Add(name);
            }
            s_binding = new LibTorchBinding(resolved, loaded, loaded.Contains("libtorch_cuda.so"));
            return s_binding;
        }
    }

    /// <summary>
    /// The one call an app makes first thing in <c>Main</c>: binds to an installed libtorch when <c>SINGLORA_LIBTORCH</c> is
    /// set and writes where it came from to <paramref name="log"/>; otherwise writes <see cref="MissingLibTorchHint"/> when
    /// there is one; does nothing else.
    /// </summary>
    public static LibTorchBinding? Configure(TextWriter? log = null)
    {
        var binding = UseInstalled();
        if (binding is not null) log?.WriteLine($"libtorch: {binding}");
        else if (MissingLibTorchHint() is { } hint) log?.WriteLine($"libtorch: {hint}");
        return binding;
    }

    /// <summary>The folder <see cref="UseInstalled"/> bound to in this process, or null.</summary>
    public static LibTorchBinding? Current => s_binding;

    private static string Resolve(string requested)
    {
        string folder = requested is "python" or "python3" ? AskPython(requested) : requested;
        folder = Path.GetFullPath(folder);
        if (!Directory.Exists(folder))
            throw new InvalidOperationException($"{EnvironmentVariable} names {folder}, which does not exist. Set it to the folder that holds libtorch_cpu.so, or to 'python'.");
        return folder;
    }

    private static string AskPython(string python)
    {
        const string script = "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))";
        try
        {
            var info = new ProcessStartInfo(python, new[] { "-c", script }) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(info)!;
            string output = process.StandardOutput.ReadToEnd().Trim();
            string error = process.StandardError.ReadToEnd().Trim();
            process.WaitForExit();
            if (process.ExitCode != 0 || output.Length == 0)
                throw new InvalidOperationException($"{EnvironmentVariable}=python, but `{python}` could not import torch: {error}. Install PyTorch for that Python or set {EnvironmentVariable} to a libtorch folder.");
            return output.Split('\n').Last().Trim();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"{EnvironmentVariable}=python, but `{python}` could not be started ({e.Message}). Set {EnvironmentVariable} to a libtorch folder instead.", e);
        }
    }

    /// <summary>The app's own copy of <c>libtorch_cpu.so</c> (from a libtorch NuGet package), or null when it ships none.</summary>
    public static string? BundledLibTorch
    {
        get
        {
            string app = AppContext.BaseDirectory;
            return new[] { Path.Combine(app, "libtorch_cpu.so"), Path.Combine(app, "runtimes", "linux-x64", "native", "libtorch_cpu.so") }
                .FirstOrDefault(File.Exists);
        }
    }

    /// <summary>
    /// A one-paragraph explanation when this process is likely to find no libtorch at all (it ships none, none was bound
    /// with <see cref="UseInstalled"/>, and no <c>LD_LIBRARY_PATH</c> folder holds one), or null. TorchSharp's own error
    /// then names packages the app deliberately leaves out; apps built without a libtorch package can print this first.
    /// </summary>
    public static string? MissingLibTorchHint()
    {
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux) || s_binding is not null || BundledLibTorch is not null) return null;
        var searchPath = (Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries);
        if (searchPath.Any(dir => File.Exists(Path.Combine(dir, "libtorch_cpu.so")))) return null;
        return $"This app was built without a libtorch package (-p:SingLoRAReferenceLibTorch=false) and no installed libtorch is configured. " +
               $"Set {EnvironmentVariable} to the folder that holds libtorch_cpu.so (PyTorch's site-packages/torch/lib) or to 'python', " +
               "or start it with that folder on LD_LIBRARY_PATH (tools/gpu/run-on-gpu.sh does); or rebuild without that property to use the CPU libtorch package.";
    }

    // Two copies of libtorch in one process (the app's own and the installed one) corrupt each other's global state.
    private static void CheckNoBundledLibTorch()
    {
        if (BundledLibTorch is { } bundled)
            throw new InvalidOperationException(
                $"This app ships its own libtorch ({bundled}), so it cannot also use an installed one. " +
                $"Build it with -p:SingLoRAReferenceLibTorch=false, or unset {EnvironmentVariable} to use the bundled libtorch.");
    }

    private static void CheckNotLoadedElsewhere(string folder)
    {
        if (!File.Exists("/proc/self/maps")) return;
        var loadedFrom = File.ReadLines("/proc/self/maps")
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "")
            .Where(path => Path.GetFileName(path) is "libtorch_cpu.so" or "libLibTorchSharp.so")
            .Distinct().ToList();
        var foreign = loadedFrom.Where(p => Path.GetFileName(p) == "libtorch_cpu.so" && Path.GetDirectoryName(p) != folder).ToList();
        if (foreign.Count > 0 || loadedFrom.Any(p => Path.GetFileName(p) == "libLibTorchSharp.so"))
            throw new InvalidOperationException(
                $"TorchSharp's native libraries are already loaded ({string.Join(", ", loadedFrom)}): call LibTorchRuntime.UseInstalled() before any other TorchSharp call, first thing in Main.");
    }
}

/// <summary>The result of <see cref="LibTorchRuntime.UseInstalled"/>: where libtorch was loaded from and whether it has CUDA.</summary>
/// <param name="Folder">The libtorch folder.</param>
/// <param name="Libraries">The libraries loaded, in order.</param>
/// <param name="HasCuda">True when <c>libtorch_cuda.so</c> was loaded (the folder's libtorch was built with CUDA).</param>
public sealed record LibTorchBinding(string Folder, IReadOnlyList<string> Libraries, bool HasCuda)
{
    /// <inheritdoc />
    public override string ToString() => $"installed libtorch at {Folder}{(HasCuda ? " (with CUDA)" : " (CPU only)")}";
}
