using System.IO;
using System.Linq;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using SingLoRA.Testing;
using Xunit;

namespace SingLoRA.Generator.Tests;

/// <summary>
/// The README's example compiles as written, generator included (issue 23): its first C# block (the annotated module, with
/// its usings) and its second (the training lines, which act on a <c>model</c>) in the order shown.
/// </summary>
public class ReadmeSnippetTests
{
    [Fact]
    public void The_README_example_compiles_with_the_generated_code_and_no_warnings()
    {
        var blocks = Regex.Matches(File.ReadAllText(RepoFile("README.md")), "```csharp\n(.*?)```", RegexOptions.Singleline)
            .Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(2, blocks.Count);   // a new block gets a place in this test
        string program = blocks[0] + "\npublic static class ReadmeTraining\n{\n    public static void Train(Module model)\n    {\n" + blocks[1] + "\n    }\n}\n";

        var run = CompileHarness.RunGenerator(CompileHarness.Compile(new[] { ("README.cs", program) }));

        Assert.Empty(run.Result.Diagnostics);
        Assert.NotEmpty(run.Result.GeneratedTrees);   // the example's class got its adapters
        Assert.Empty(CompileHarness.Problems(run.Output));
    }

    private static string RepoFile(string name, [CallerFilePath] string thisFile = "") =>
        Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(thisFile)!)!)!, name);
}
