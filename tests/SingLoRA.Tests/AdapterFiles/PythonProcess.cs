using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Xunit;
using Xunit.Abstractions;

namespace SingLoRA.Tests.AdapterFiles;

/// <summary>Whether <c>/usr/bin/python3</c> can import torch (Debian: <c>apt-get install python3-torch</c>); asked once.</summary>
internal static class PythonTorch
{
    private static readonly Lazy<bool> s_available = new(() =>
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("/usr/bin/python3", "-c \"import torch\"") { RedirectStandardError = true, RedirectStandardOutput = true })!;
            return p.WaitForExit(60_000) && p.ExitCode == 0;
        }
        catch (Exception)
        {
            return false;
        }
    });

    /// <summary>The skip reason where torch is missing, else null.</summary>
    public static string? SkipReason => s_available.Value ? null : "needs /usr/bin/python3 with torch (apt-get install python3-torch)";
}

/// <summary>Runs only where <c>/usr/bin/python3</c> can import torch (Debian: <c>apt-get install python3-torch</c>); skipped elsewhere.</summary>
public sealed class PythonTorchFactAttribute : FactAttribute
{
    public PythonTorchFactAttribute()
    {
        if (PythonTorch.SkipReason is { } reason) Skip = reason;
    }
}

/// <summary>The theory twin of <see cref="PythonTorchFactAttribute"/>: skipped where <c>/usr/bin/python3</c> cannot import torch.</summary>
public sealed class PythonTorchTheoryAttribute : TheoryAttribute
{
    public PythonTorchTheoryAttribute()
    {
        if (PythonTorch.SkipReason is { } reason) Skip = reason;
    }
}

/// <summary>Runs <c>/usr/bin/python3</c> for the interop tests, with the repository's <c>python/</c> package importable.</summary>
internal static class PythonProcess
{
    /// <summary>The repository root (the folder holding <c>SingLoRA.Gen.sln</c>).</summary>
    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "SingLoRA.Gen.sln"))) return d.FullName;
        throw new InvalidOperationException("SingLoRA.Gen.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The test scripts copied next to the test assembly (<c>AdapterFiles/Python</c>).</summary>
    public static string TestScripts => Path.Combine(AppContext.BaseDirectory, "AdapterFiles", "Python");

    /// <summary>The repository's Python package folder (<c>python/</c>: <c>singlora</c>, <c>train_ddp.py</c>, ...).</summary>
    public static string Package => Path.Combine(RepoRoot(), "python");

    /// <summary>
    /// Runs <c>torchrun --standalone --nproc_per_node <paramref name="processes"/> args...</c> (through <c>torchrun_py311.py</c>,
    /// which only repairs torchrun's argument parsing on torch &lt; 2.0 under Python 3.11, Debian 12) like <see cref="Run"/>.
    /// Gloo binds to the interface of the host name unless told otherwise; containers often cannot resolve their own name,
    /// and every process is on this machine: the loopback interface (<c>GLOO_SOCKET_IFNAME=lo</c>) always works.
    /// </summary>
    public static string Torchrun(ITestOutputHelper output, int processes, IEnumerable<string> args, int timeoutSeconds = 300)
    {
        var loopback = new Dictionary<string, string> { ["GLOO_SOCKET_IFNAME"] = Environment.GetEnvironmentVariable("GLOO_SOCKET_IFNAME") ?? "lo" };
        var launcher = new[] { Path.Combine(Package, "torchrun_py311.py"), "--standalone", "--nproc_per_node", $"{processes}" };
        return Run(output, launcher.Concat(args), timeoutSeconds, loopback);
    }

    /// <summary>
    /// Runs <c>/usr/bin/python3 args...</c> (with <paramref name="environment"/> added), writes its output to the test log
    /// and returns it; fails the test (with the output) on a non-zero exit code or after <paramref name="timeoutSeconds"/>.
    /// </summary>
    public static string Run(ITestOutputHelper output, IEnumerable<string> args, int timeoutSeconds = 180, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["PYTHONPATH"] = Package;
        info.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(timeoutSeconds * 1000))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"python {string.Join(' ', info.ArgumentList)} ran longer than {timeoutSeconds} s.\n{stdout}");
        }
        string all = stdout + stderr.Result;
        output.WriteLine(all);
        Assert.True(process.ExitCode == 0, $"python {string.Join(' ', info.ArgumentList)} exited with {process.ExitCode}:\n{all}");
        return all;
    }
}
