using System;
using System.Diagnostics;

namespace SingLoRA.Testing;

/// <summary>
/// Runs a command (usually <c>dotnet ...</c>) the way the packaging and <c>dotnet format</c> tests need: in a given
/// folder, with a time limit, telemetry off, and without the MSBuild variables the outer <c>dotnet test</c> sets for its
/// own build (a child build must start clean).
/// </summary>
internal static class DotnetProcess
{
    /// <summary>
    /// The exit code and the output (stdout then stderr); <paramref name="log"/> gets the command and its output.
    /// <paramref name="environment"/> sets variables for the child (a null value removes one).
    /// </summary>
    public static (int ExitCode, string Output) Run(string file, string arguments, string directory, int timeoutSeconds, Action<string>? log = null,
        System.Collections.Generic.IReadOnlyDictionary<string, string?>? environment = null)
    {
        var info = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var key in new[] { "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH", "MSBuildLoadMicrosoftTargetsReadOnly" })
            info.Environment.Remove(key);
        if (environment is not null)
            foreach (var (key, value) in environment)
                if (value is null) info.Environment.Remove(key); else info.Environment[key] = value;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(timeoutSeconds)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"`{file} {arguments}` did not finish within {timeoutSeconds} s.");
        }
        string text = stdout.Result + stderr.Result;
        log?.Invoke($"$ {file} {arguments}  (in {directory})\n{text}");
        return (process.ExitCode, text);
    }
}
