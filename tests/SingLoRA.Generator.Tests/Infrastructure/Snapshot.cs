using System;
using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Xunit;

namespace SingLoRA.Generator.Tests.Infrastructure;

/// <summary>
/// Our small snapshot helper (Verify is not available here). Each snapshot is
/// <c>Snapshots/&lt;Test&gt;.verified.cs</c>; on a mismatch the actual text is written next to it as
/// <c>.received.cs</c> and the test fails. Set <c>SINGLORA_ACCEPT_SNAPSHOTS=1</c> to accept: the received text
/// then replaces the verified file. The generator's version in <c>[GeneratedCode]</c> is scrubbed.
/// </summary>
public static class Snapshot
{
    /// <summary>The environment variable that accepts new snapshots.</summary>
    public const string AcceptVariable = "SINGLORA_ACCEPT_SNAPSHOTS";

    /// <summary>The folder of the committed snapshots (in the source tree, not the build output).</summary>
    public static string Folder([CallerFilePath] string thisFile = "") =>
        Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(thisFile)!)!, "Snapshots");

    /// <summary>Replaces the version in <c>GeneratedCode("SingLoRA.Generator", "...")</c> with a placeholder.</summary>
    public static string Scrub(string text) =>
        Regex.Replace(text, "GeneratedCode\\(\"SingLoRA\\.Generator\", \"[^\"]*\"\\)", "GeneratedCode(\"SingLoRA.Generator\", \"{version}\")")
             .Replace("\r\n", "\n");

    /// <summary>Compares <paramref name="actual"/> with the verified snapshot named <paramref name="name"/>.</summary>
    public static void Verify(string name, string actual)
    {
        actual = Scrub(actual);
        var verified = Path.Combine(Folder(), name + ".verified.cs");
        var received = Path.Combine(Folder(), name + ".received.cs");
        bool accept = Environment.GetEnvironmentVariable(AcceptVariable) == "1";
        var expected = File.Exists(verified) ? File.ReadAllText(verified).Replace("\r\n", "\n") : null;
        if (expected == actual)
        {
            if (File.Exists(received)) File.Delete(received);
            return;
        }
        if (accept)
        {
            Directory.CreateDirectory(Folder());
            File.WriteAllText(verified, actual);
            if (File.Exists(received)) File.Delete(received);
            return;
        }
        File.WriteAllText(received, actual);
        Assert.Fail(expected is null
            ? $"No verified snapshot {Path.GetFileName(verified)}. Review {received}, then rerun with {AcceptVariable}=1 to accept it."
            : $"The generated source differs from {Path.GetFileName(verified)}. Compare it with {received}; rerun with {AcceptVariable}=1 to accept.");
    }

    /// <summary>The names of every verified snapshot file.</summary>
    public static string[] VerifiedNames() =>
        Directory.Exists(Folder())
            ? Directory.GetFiles(Folder(), "*.verified.cs").Select(f => Path.GetFileName(f)[..^".verified.cs".Length]).ToArray()
            : Array.Empty<string>();
}
