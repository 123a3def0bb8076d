using System.IO;
using System.Linq;
using System.Text;
using SingLoRA.Generator.Tests.Infrastructure;
using Xunit;

namespace SingLoRA.Generator.Tests;

/// <summary>The generated text for each representative model, against its committed <c>Snapshots/*.verified.cs</c>.</summary>
public class SnapshotTests
{
    [Theory]
    [MemberData(nameof(Cases.Names), MemberType = typeof(Cases))]
    public void Generated_source_matches_the_snapshot(string name)
    {
        var (result, _, _) = GeneratorHarness.Run(GeneratorHarness.Compile(Cases.All[name]));
        var text = new StringBuilder();
        foreach (var source in result.Results.Single().GeneratedSources.OrderBy(s => s.HintName, System.StringComparer.Ordinal))
            text.Append("//------ ").Append(source.HintName).Append(" ------\n").Append(source.SourceText.ToString());
        Snapshot.Verify(name, text.ToString());
    }

    [Fact]
    public void Every_verified_snapshot_belongs_to_a_case()
    {
        var orphans = Snapshot.VerifiedNames().Where(n => !Cases.All.ContainsKey(n)).ToArray();
        Assert.True(orphans.Length == 0, $"Orphaned snapshots (delete them from {Snapshot.Folder()}): {string.Join(", ", orphans)}");
        var received = Directory.Exists(Snapshot.Folder()) ? Directory.GetFiles(Snapshot.Folder(), "*.received.cs") : new string[0];
        Assert.True(received.All(r => Cases.All.ContainsKey(Path.GetFileName(r)[..^".received.cs".Length])),
            "Stale .received.cs files: " + string.Join(", ", received.Select(Path.GetFileName)));
    }

    [Fact]
    public void Version_is_scrubbed_from_GeneratedCode()
    {
        Assert.Equal("[global::System.CodeDom.Compiler.GeneratedCode(\"SingLoRA.Generator\", \"{version}\")]",
            Snapshot.Scrub("[global::System.CodeDom.Compiler.GeneratedCode(\"SingLoRA.Generator\", \"1.2.3.4\")]"));
    }
}
