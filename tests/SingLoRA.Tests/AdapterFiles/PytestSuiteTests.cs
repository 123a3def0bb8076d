using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace SingLoRA.Tests.AdapterFiles;

/// <summary>Runs only where <c>/usr/bin/python3</c> has pytest and torch (Debian: <c>apt-get install python3-pytest python3-torch</c>).</summary>
public sealed class PytestTheoryAttribute : TheoryAttribute
{
    public PytestTheoryAttribute()
    {
        if (!Pytest.Available) Skip = "needs /usr/bin/python3 with pytest and torch (apt-get install python3-pytest python3-torch)";
    }
}

/// <summary>
/// The Python package's own tests (<c>python/tests</c>, pytest) as part of the README's test command: one xunit case per
/// pytest test, so the totals count them. The node ids are collected when the tests are discovered; pytest runs once for
/// all of them and each case reports its test's outcome.
/// </summary>
public class PytestSuiteTests(ITestOutputHelper output)
{
    public static TheoryData<string> Tests()
    {
        var data = new TheoryData<string>();
        foreach (var id in Pytest.Available ? Pytest.Collect() : new[] { "(pytest or torch unavailable)" }) data.Add(id);
        return data;
    }

    [PytestTheory]
    [MemberData(nameof(Tests))]
    public void Python_package_test(string nodeId)
    {
        var run = Pytest.Run.Value;
        Assert.True(run.Outcomes.TryGetValue(nodeId, out var outcome), $"pytest did not report {nodeId}:\n{run.Output}");
        if (outcome == "PASSED") return;
        output.WriteLine(run.Output);
        Assert.Fail($"pytest reports {nodeId} {outcome} (a skip counts as a failure here: the README's test command must run every test); its output follows.");
    }
}

internal static class Pytest
{
    private static readonly Lazy<bool> s_available = new(() =>
        Execute("-c \"import pytest, torch\"", 60).ExitCode == 0);

    public static bool Available => s_available.Value;

    /// <summary>The node ids of <c>python/tests</c> (<c>python/tests/test_files.py::test_...</c>), as pytest collects them.</summary>
    public static IReadOnlyList<string> Collect()
    {
        var (code, text) = Execute("-m pytest --collect-only -q -p no:cacheprovider python/tests", 120);
        var ids = text.Split('\n').Select(l => l.Trim()).Where(l => l.Contains("::", StringComparison.Ordinal)).ToList();
        if (code != 0 || ids.Count == 0) throw new InvalidOperationException($"pytest could not collect python/tests (exit {code}):\n{text}");
        return ids;
    }

    /// <summary>
    /// One run of the whole suite: each node id's outcome (PASSED, FAILED, SKIPPED, ERROR) and the output. The suite's
    /// real-model test reads the converted all-MiniLM-L6-v2 checkpoint from <c>artifacts/cache</c> (pytest alone skips it
    /// when missing); it is converted here first, so the outcome never depends on whether a .NET test ran before.
    /// </summary>
    public static readonly Lazy<(IReadOnlyDictionary<string, string> Outcomes, string Output)> Run = new(() =>
    {
        _ = SingLoRA.Tests.SpamFilter.RealModelCache.Checkpoint;
        var (_, text) = Execute("-m pytest -v -rs -p no:cacheprovider python/tests", 900);
        var outcomes = new Dictionary<string, string>(StringComparer.Ordinal);
        // `-v` prints "<node id> PASSED [ 42%]"; parametrised ids may contain spaces, so anchor on the end of the line.
        foreach (Match m in Regex.Matches(text, @"^(.+::.+?) (PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)(?:\s+\[\s*\d+%\])?\r?$", RegexOptions.Multiline))
            outcomes[m.Groups[1].Value] = m.Groups[2].Value;
        return (outcomes, text);
    });

    private static (int ExitCode, string Output) Execute(string arguments, int timeoutSeconds)
    {
        try
        {
            var info = new ProcessStartInfo("/usr/bin/python3", arguments)
            {
                WorkingDirectory = PythonProcess.RepoRoot(),
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            info.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromSeconds(timeoutSeconds)))
            {
                process.Kill(entireProcessTree: true);
                return (-1, $"/usr/bin/python3 {arguments} did not finish within {timeoutSeconds} s");
            }
            return (process.ExitCode, stdout.Result + stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }
}
